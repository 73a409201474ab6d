package agent

import (
	"context"
	"strings"

	"koffer/agent/doctor"
	"koffer/agent/web"
)

var _ web.Technician = (*WebBackend)(nil)

// checkNames are the German names of the doctor's checks on the Technik page.
var checkNames = map[string]string{
	"audit": "Protokoll (Hash-Kette)", "certificate": "Koffer-Zertifikat", "clock": "Uhrzeit",
	"database": "Datenbank", "disk": "Speicherplatz", "fingerprint": "Fingerabdruckleser",
	"keys": "Schlüssel", "printer": "Drucker", "queue": "Warteschlange", "scanner": "Scanner",
	"uplink": "Verbindung zum Rathaus", "profile": "Kofferprofil", "agent": "Dienst (koffer agent)",
}

// Technik implements web.Technician: the checks of `koffer doctor`, run from inside the agent
// on the agent's own store and profile (the reader is not opened while the agent holds it).
func (b *WebBackend) Technik(ctx context.Context) (web.TechReport, error) {
	kit := doctor.ForKit(ctx, doctor.KitOptions{DataDir: b.a.opts.DataDir, Profile: b.a.prof, Now: b.a.now, Store: b.a.store})
	defer kit.Close()
	rep := doctor.Run(ctx, kit.Checks, doctor.Options{})
	out := web.TechReport{Status: string(rep.Status)}
	for _, r := range rep.Results {
		name := r.Check
		for prefix, de := range checkNames {
			if name == prefix || strings.HasPrefix(name, prefix+" ") || strings.HasPrefix(name, prefix+":") {
				name = de + name[len(prefix):]
				break
			}
		}
		out.Checks = append(out.Checks, web.TechCheck{Name: name, Status: string(r.Status), Value: r.Value, Code: r.Code, Hint: r.HintDE})
	}
	return out, nil
}
