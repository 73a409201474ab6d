package agent

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"koffer/devices/profile"
)

// Config is the agent's TOML configuration file (docs/layout.md shows an example). Command-line
// flags override it. Unknown keys are an error: a typo must not silently fall back to a default.
type Config struct {
	Listen          string        `toml:"listen"`           // loopback address for the UI, e.g. 127.0.0.1:8765
	Training        bool          `toml:"training"`         // simulated devices (same as --training)
	LogLevel        string        `toml:"log_level"`        // debug, info, warn, error
	LogFormat       string        `toml:"log_format"`       // text (default) or json
	IdleLock        time.Duration `toml:"idle_lock"`        // forget the data key after this idle time (default 15m)
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"` // graceful shutdown limit (default 10s)
	KeepDelivered   time.Duration `toml:"keep_delivered"`   // keep a delivered case's remaining files this long (default 24h)

	// Profile is the kit profile TOML, the one description of the kit's printer, scanner and
	// fingerprint reader (devices/profile). Default /etc/koffer/kit.toml when present; a
	// profile named here must exist.
	Profile string `toml:"profile"`

	// The letterhead of printed certificates.
	AuthorityName    string `toml:"authority_name"`    // "Stadt Musterstadt – Bürgeramt"
	AuthorityAddress string `toml:"authority_address"` // "Marktplatz 1, 12345 Musterstadt"
	Place            string `toml:"place"`             // place of issue, "Musterstadt"
}

// LoadConfig reads path. Keys it does not know are reported by name.
func LoadConfig(path string) (Config, error) {
	var c Config
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		for _, k := range und {
			if k.String() == "printer" || k.String() == "scanner" {
				return c, fmt.Errorf("config %s: key %q: the kit's devices are described in the kit profile now "+
					"(config key profile, default %s; a [[device]] with kind = %q and uri or usb); remove it here", path, k.String(), profile.DefaultPath, k.String())
			}
		}
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return c, fmt.Errorf("config %s: unknown key(s) %s", path, strings.Join(keys, ", "))
	}
	return c, c.validate()
}

func (c Config) validate() error {
	if _, err := c.Level(); err != nil {
		return err
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("config: log_format %q: want text or json", c.LogFormat)
	}
	if c.IdleLock < 0 || c.ShutdownTimeout < 0 || c.KeepDelivered < 0 {
		return fmt.Errorf("config: durations must not be negative")
	}
	return nil
}

// Level parses LogLevel (default info).
func (c Config) Level() (slog.Level, error) {
	var l slog.Level
	if c.LogLevel == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return l, fmt.Errorf("config: log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}
