package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/doctor"
	"koffer/agent/doctor/doctortest"
	"koffer/agent/keys"
	"koffer/agent/keys/tpm/tpmtest"
	"koffer/devices/fingerprint/usbreader"
	"koffer/devices/ipp"
	"koffer/devices/usb"
	"koffer/store"
	"koffer/sync/enroll"
)

// fakeReader stands in for an attached reader (the USB bus of a test machine has none).
func fakeReader(context.Context) ([]usbreader.Found, error) {
	return []usbreader.Found{{Model: usbreader.Models()[0], Bus: 1, Address: 2}}, nil
}

func opensFine(context.Context) error { return nil }

func fakeBus(context.Context) ([]usb.DeviceInfo, error) {
	m := usbreader.Models()[0]
	return []usb.DeviceInfo{{ID: m.ID, Release: m.Release, Bus: 1, Address: 2, Serial: "R123"}}, nil
}

func emptyProfile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kit.toml")
	require.NoError(t, os.WriteFile(p, []byte("# training kit: nothing expected\n"), 0o644))
	return p
}

func doctorReport(t *testing.T, out *bytes.Buffer) doctor.Report {
	t.Helper()
	var rep doctor.Report
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	return rep
}

func statusOf(rep doctor.Report) map[string]doctor.Status {
	m := map[string]doctor.Status{}
	for _, r := range rep.Results {
		m[r.Check] = r.Status
	}
	return m
}

func TestDoctorHealthyKitBesideRunningAgent(t *testing.T) {
	f, out, _ := dataFactory(t)
	startAgent(t, f)
	opts := &doctorOptions{f: f, ctx: t.Context(), JSON: true, Profile: emptyProfile(t), Timeout: 10 * time.Second, Discover: fakeReader, OpenReader: opensFine, DiskWarn: 1}
	err := doctorRun(opts)
	rep := doctorReport(t, out)
	require.NoError(t, err, "%+v", rep.Results)
	st := statusOf(rep)
	for _, name := range []string{"agent", "disk", "database", "queue", "audit", "keys", "certificate", "fingerprint", "profile"} {
		assert.Equal(t, doctor.OK, st[name], name)
	}
	for _, r := range rep.Results {
		if r.Check == "agent" {
			assert.Equal(t, "running", r.Value)
		}
	}
	assert.Equal(t, exitOK, run(t.Context(), []string{"doctor", "--profile", opts.Profile, "--data", f.DataDir, "--timeout", "1ms"}, f)&^3,
		"the command runs through cobra too (any of 0/1/2)")
}

func TestDoctorExitStatus(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    exitCode
		failing string
	}{
		{name: "empty directory", prepare: func(*testing.T, string) {}, want: 2, failing: "database"},
		{name: "corrupted database", prepare: func(t *testing.T, dir string) {
			st, err := store.Open(t.Context(), dir, store.Options{})
			require.NoError(t, err)
			for range 200 {
				require.NoError(t, st.Audit(t.Context(), "fill", "", "x"))
			}
			require.NoError(t, st.Close())
			p := filepath.Join(dir, store.DBName)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			for i := 100; i < len(b); i += 7 {
				b[i] ^= 0x5a
			}
			require.NoError(t, os.WriteFile(p, b, 0o600))
		}, want: 2, failing: "database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out, _ := dataFactory(t)
			tt.prepare(t, f.DataDir)
			err := doctorRun(&doctorOptions{f: f, ctx: t.Context(), Profile: emptyProfile(t), Discover: fakeReader, OpenReader: opensFine, DiskWarn: 1})
			var st *exitStatusError
			require.ErrorAs(t, err, &st)
			assert.Equal(t, tt.want, st.code)
			assert.Regexp(t, "fail +"+tt.failing, out.String())
			assert.Contains(t, out.String(), "DE: ")
			assert.Contains(t, out.String(), "EN: ")
			assert.Contains(t, out.String(), "overall: fail")
		})
	}
}

// TestDoctorBundleHoldsNoPersonalDataOrKeys submits every valid example case (fictional
// citizens), writes a support bundle and searches every file in it for each name, birth date
// and for key material.
func TestDoctorBundleHoldsNoPersonalDataOrKeys(t *testing.T) {
	f, out, errOut := dataFactory(t)
	files, err := filepath.Glob("../../testdata/cases/valid/*/case.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var needles []string
	for _, file := range files {
		needles = append(needles, secretsOf(t, file)...)
	}
	stop := startAgent(t, f)
	for _, file := range files {
		require.NoError(t, caseSubmitRun(&caseSubmitOptions{f: f, ctx: t.Context(), File: file, Now: time.Now}), errOut.String())
	}
	stop()
	kit, err := keys.LoadKit(f.DataDir)
	require.NoError(t, err)
	pemBody := func(p string) string { return strings.Split(strings.TrimSpace(p), "\n")[1] }
	needles = append(needles, "-----BEGIN", "AGE-SECRET-KEY", kit.TownHall, pemBody(kit.Bundle.KeyPEM))

	cfg := filepath.Join(t.TempDir(), "koffer.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("listen = \"127.0.0.1:8765\"\nlog_level = \"debug\"\n"), 0o600))
	bundle := filepath.Join(t.TempDir(), "support.tar.gz")
	out.Reset()
	err = doctorRun(&doctorOptions{f: f, ctx: t.Context(), Bundle: bundle, ConfigFile: cfg, Profile: emptyProfile(t),
		Discover: fakeReader, OpenReader: opensFine, DiskWarn: 1, List: fakeBus,
		Logs: func(context.Context) ([]byte, error) { return []byte("level=INFO msg=started subsystem=agent\n"), nil }})
	var st *exitStatusError
	if err != nil {
		require.ErrorAs(t, err, &st)
	}
	assert.Contains(t, out.String(), "support bundle: "+bundle)

	seen := map[string]bool{}
	for name, data := range bundleFiles(t, bundle) {
		seen[name] = true
		for _, n := range needles {
			assert.NotContains(t, string(data), n, "%s holds %q", name, n)
		}
		if name == "doctor.json" {
			assert.Contains(t, string(data), `"queue"`)
			assert.Contains(t, string(data), "waiting", "the report measured the queue")
		}
		if name == "devices.json" {
			assert.Contains(t, string(data), "R123")
		}
	}
	for _, name := range []string{"version.txt", "doctor.json", "devices.json", "kit.json", "koffer.toml", "logs.txt"} {
		assert.True(t, seen[name], name)
	}
}

func TestDevicesCommand(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "kit.toml")
	m := usbreader.Models()[0]
	require.NoError(t, os.WriteFile(prof, []byte("[[device]]\nkind = \"fingerprint\"\nusb = \""+m.ID.String()+"\"\n[[device]]\nkind = \"printer\"\nusb = \"04f9:2042\"\n"+
		"[[device]]\nkind = \"printer\"\nuri = \"ipp://localhost:1/ipp/print\"\n"), 0o644))
	var asked []string
	printers := func(ctx context.Context, uris []string) []ipp.Status {
		asked = uris
		return printerStatuses(ctx, uris, false)
	}
	t.Run("text", func(t *testing.T) {
		f, out, _ := testFactory(t)
		err := devicesRun(&devicesOptions{f: f, ctx: t.Context(), Profile: prof, List: fakeBus, Printers: printers})
		var st *exitStatusError
		require.ErrorAs(t, err, &st, "a MISSING device is exit 2, as in doctor")
		assert.Equal(t, exitCode(2), st.code)
		assert.Equal(t, []string{"ipp://localhost:1/ipp/print"}, asked, "the profile's network printers are asked")
		assert.Contains(t, out.String(), "printer.unreachable")
		assert.Contains(t, out.String(), m.ID.String())
		assert.Contains(t, out.String(), "fingerprint reader")
		assert.Regexp(t, `fingerprint +1/1 +satisfied`, out.String())
		assert.Regexp(t, `printer +0/2 +MISSING 04f9:2042, ipp://localhost:1/ipp/print`, out.String())
	})
	t.Run("json", func(t *testing.T) {
		f, out, _ := testFactory(t)
		err := devicesRun(&devicesOptions{f: f, ctx: t.Context(), Profile: prof, JSON: true, List: fakeBus, Printers: printers})
		var st *exitStatusError
		require.ErrorAs(t, err, &st)
		assert.Equal(t, exitCode(2), st.code)
		var inv struct {
			USB      []struct{ ID, Serial string }
			Printers []struct{ URI, Problem, Hint string }
			Kinds    []struct {
				Kind      string
				Satisfied bool
			}
		}
		require.NoError(t, json.Unmarshal(out.Bytes(), &inv))
		require.Len(t, inv.USB, 1)
		assert.Equal(t, "R123", inv.USB[0].Serial)
		require.Len(t, inv.Kinds, 2)
		require.Len(t, inv.Printers, 1)
		assert.NotEmpty(t, inv.Printers[0].Hint)
	})
	t.Run("the agent's config names the profile", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "koffer.toml")
		require.NoError(t, os.WriteFile(cfg, []byte("profile = \""+prof+"\"\n"), 0o600))
		f, out, _ := testFactory(t)
		err := devicesRun(&devicesOptions{f: f, ctx: t.Context(), ConfigFile: cfg, List: fakeBus, Printers: printers})
		var st *exitStatusError
		require.ErrorAs(t, err, &st, "the profile's printers are missing here too")
		assert.Equal(t, exitCode(2), st.code)
		assert.Regexp(t, `fingerprint +1/1 +satisfied`, out.String(), "the same profile as the agent")

		path, err := kitProfilePath("", cfg)
		require.NoError(t, err)
		assert.Equal(t, prof, path, "doctor resolves it the same way")
		path, err = kitProfilePath("/other/kit.toml", cfg)
		require.NoError(t, err)
		assert.Equal(t, "/other/kit.toml", path, "--profile wins")
		_, err = kitProfilePath("", filepath.Join(t.TempDir(), "none.toml"))
		assert.Error(t, err)
	})
	t.Run("everything there is exit 0", func(t *testing.T) {
		only := filepath.Join(t.TempDir(), "kit.toml")
		require.NoError(t, os.WriteFile(only, []byte("[[device]]\nkind = \"fingerprint\"\nusb = \""+m.ID.String()+"\"\n"), 0o644))
		f, _, _ := testFactory(t)
		assert.NoError(t, devicesRun(&devicesOptions{f: f, ctx: t.Context(), Profile: only, List: fakeBus, Printers: printers}))
		assert.Equal(t, exitCode(2), run(t.Context(), []string{"devices", "--profile", prof}, f), "through cobra: 2 with a device missing")
	})
	t.Run("bad profile names the key", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "kit.toml")
		require.NoError(t, os.WriteFile(bad, []byte("[[device]]\nkind = \"printer\"\nusb = \"04f9:2042\"\nvendor = \"x\"\n"), 0o644))
		f, _, errOut := testFactory(t)
		code := run(t.Context(), []string{"devices", "--profile", bad}, f)
		assert.Equal(t, exitError, code)
		assert.Contains(t, errOut.String(), "device.vendor")
	})
}

// enrolledKit initialises an enrolled (not training) kit in dir whose town hall is url, its
// key sealed by a TPM (swtpm) as on a healthy kit.
func enrolledKit(t *testing.T, dir string, ca *enroll.CA, url string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	b, err := ca.Issue("kit-042", url, id.Recipient().String(), time.Now())
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, keys.SaveKitProtected(dir, &keys.Kit{Bundle: b}, keys.Protection{TPM: tpmtest.Start(t)}))
	st, err := store.Open(t.Context(), dir, store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Close())
}

// TestDoctorUplink runs koffer doctor on an enrolled kit whose town hall is reachable,
// unreachable, or presents a certificate from another CA. No agent runs, which is a warning
// by itself; being offline is a warning too, and only what needs a technician fails.
func TestDoctorUplink(t *testing.T) {
	ca, err := enroll.NewCA("Stadt Musterstadt test CA", time.Now())
	require.NoError(t, err)
	other, err := enroll.NewCA("not the town hall", time.Now())
	require.NoError(t, err)
	tests := []struct {
		name   string
		url    func(t *testing.T) string
		want   exitCode
		uplink doctor.Status
		clock  doctor.Status
		code   string
	}{
		{name: "reachable", url: func(t *testing.T) string { return doctortest.Start(t, ca, doctortest.Options{}).URL }, want: 1, uplink: doctor.OK, clock: doctor.OK},
		{name: "unreachable", url: func(t *testing.T) string { return doctortest.UnusedURL(t) }, want: 1, uplink: doctor.Warn, clock: doctor.Warn, code: "uplink.tcp"},
		{name: "wrong CA", url: func(t *testing.T) string { return doctortest.Start(t, other, doctortest.Options{}).URL }, want: 2, uplink: doctor.Fail, clock: doctor.Warn, code: "uplink.tls-ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out, _ := dataFactory(t)
			enrolledKit(t, f.DataDir, ca, tt.url(t))
			err := doctorRun(&doctorOptions{f: f, ctx: t.Context(), JSON: true, Profile: emptyProfile(t), Discover: fakeReader, OpenReader: opensFine, DiskWarn: 1, Timeout: 10 * time.Second})
			var st *exitStatusError
			require.ErrorAs(t, err, &st)
			assert.Equal(t, tt.want, st.code, out.String())
			rep := doctorReport(t, out)
			assert.Equal(t, doctor.Warn, statusOf(rep)["agent"], "agent not running is not ok")
			var up, clock doctor.Result
			for _, r := range rep.Results {
				switch r.Check {
				case "uplink":
					up = r
				case "clock":
					clock = r
				}
			}
			assert.Equal(t, tt.uplink, up.Status, up.Value)
			assert.Equal(t, tt.code, up.Code)
			assert.Equal(t, tt.clock, clock.Status, "the clock is read from the same town hall: %s", clock.Value)
		})
	}
}
