package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/peer"
)

// TestDebInstall builds the packages with `make deb` once and installs them on this machine
// with dpkg, as a town's IT would: files, owners and modes, the service user, conffiles, both
// units through systemd-analyze verify, the installed agent running as its user on the
// shipped config; then an upgrade (reinstall) keeps config edits and data, `dpkg -r` and a
// reinstall keep /var/lib/koffer, and `dpkg --purge` removes it. It needs root (CI runs as
// root) and purges both packages at the end.
func TestDebInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installs Debian packages: needs root")
	}
	peer.Need(t, "dpkg", "dpkg-deb", "systemd-analyze", "make", "runuser")
	for _, p := range []string{"koffer", "koffer-townhall"} {
		if exec.Command("dpkg-query", "-W", p).Run() == nil {
			t.Fatalf("package %s is installed on this machine already: refusing to touch it", p)
		}
	}
	tmp := t.TempDir()
	out, err := exec.Command("make", "-C", "../..", "deb", "BIN="+filepath.Join(tmp, "bin"), "DIST="+filepath.Join(tmp, "dist")).CombinedOutput()
	require.NoError(t, err, "make deb: %s", out)
	kofferDeb := glob1(t, filepath.Join(tmp, "dist", "koffer_*.deb"))
	townDeb := glob1(t, filepath.Join(tmp, "dist", "koffer-townhall_*.deb"))
	// The packages leave their system users behind on purge, as Debian does; the users this
	// test caused are removed too, so the machine is as before.
	var newUsers []string
	for _, name := range []string{"koffer", "koffer-townhall"} {
		if _, err := user.Lookup(name); err != nil {
			newUsers = append(newUsers, name)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "koffer", "koffer-townhall").CombinedOutput(); err != nil {
			t.Errorf("purge: %v\n%s", err, out)
		}
		for _, name := range newUsers {
			if out, err := exec.Command("deluser", "--quiet", "--system", name).CombinedOutput(); err != nil {
				t.Errorf("deluser %s: %v\n%s", name, err, out)
			}
			_ = exec.Command("delgroup", "--quiet", "--system", name).Run()
		}
	})
	sh(t, "dpkg", "-i", kofferDeb, townDeb)

	// What the package holds but dpkg may be told not to install (man pages): in the archive.
	contents := sh(t, "dpkg-deb", "-c", kofferDeb)
	for _, f := range []string{
		"./usr/share/man/man1/koffer.1.gz", "./usr/share/man/man1/koffer-agent.1.gz",
		"./usr/share/bash-completion/completions/koffer", "./usr/share/zsh/vendor-completions/_koffer",
		"./usr/share/fish/vendor_completions.d/koffer.fish",
	} {
		assert.Contains(t, contents, f)
	}
	assert.NotContains(t, contents, "koffer-man.1", "the packaging command stays hidden")

	files := []struct {
		path, owner, group string
		mode               os.FileMode
		dir                bool
	}{
		{path: "/usr/bin/koffer", owner: "root", group: "root", mode: 0o755},
		{path: "/usr/lib/systemd/system/koffer.service", owner: "root", group: "root", mode: 0o644},
		{path: "/usr/lib/udev/rules.d/60-koffer.rules", owner: "root", group: "root", mode: 0o644},
		{path: "/etc/koffer/koffer.toml", owner: "root", group: "koffer", mode: 0o640},
		{path: "/etc/koffer/kit.toml", owner: "root", group: "koffer", mode: 0o640},
		{path: "/var/lib/koffer", owner: "koffer", group: "koffer", mode: 0o700, dir: true},
		{path: "/usr/bin/townhall", owner: "root", group: "root", mode: 0o755},
		{path: "/usr/lib/systemd/system/koffer-townhall.service", owner: "root", group: "root", mode: 0o644},
		{path: "/etc/default/koffer-townhall", owner: "root", group: "koffer-townhall", mode: 0o640},
		{path: "/var/lib/koffer-townhall", owner: "koffer-townhall", group: "koffer-townhall", mode: 0o700, dir: true},
	}
	for _, f := range files {
		fi, err := os.Stat(f.path)
		if !assert.NoError(t, err) {
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		assert.Equal(t, f.dir, fi.IsDir(), f.path)
		assert.Equal(t, f.mode, fi.Mode().Perm(), "%s mode", f.path)
		assert.Equal(t, f.owner, userName(t, st.Uid), "%s owner", f.path)
		assert.Equal(t, f.group, groupName(t, st.Gid), "%s group", f.path)
	}
	u, err := user.Lookup("koffer")
	require.NoError(t, err)
	uid, _ := strconv.Atoi(u.Uid)
	assert.Less(t, uid, 1000, "a system user")
	assert.Equal(t, "/usr/sbin/nologin", strings.TrimSpace(strings.Split(sh(t, "getent", "passwd", "koffer"), ":")[6]))
	assert.Contains(t, strings.Fields(sh(t, "id", "-nG", "koffer")), "plugdev")
	conffiles := sh(t, "dpkg-query", "-W", "-f=${Conffiles}", "koffer")
	assert.Contains(t, conffiles, "/etc/koffer/koffer.toml")
	assert.Contains(t, conffiles, "/etc/koffer/kit.toml")
	assert.Contains(t, sh(t, "dpkg-query", "-W", "-f=${Conffiles}", "koffer-townhall"), "/etc/default/koffer-townhall")

	// Both units verify offline (no running systemd needed); man pages are checked above.
	for _, unit := range []string{"koffer.service", "koffer-townhall.service"} {
		out, err := exec.Command("systemd-analyze", "verify", "--man=no", "/usr/lib/systemd/system/"+unit).CombinedOutput()
		assert.NoError(t, err, "systemd-analyze verify %s: %s", unit, out)
		assert.Empty(t, strings.TrimSpace(string(out)), "verify %s warns", unit)
		// systemd's own exposure score (0 best, 100 worst): "OK" ends at 20 (shown as 2.0).
		out, err = exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=20", "/usr/lib/systemd/system/"+unit).CombinedOutput()
		assert.NoError(t, err, "systemd-analyze security %s: %s", unit, out)
	}
	unit, err := os.ReadFile("/usr/lib/systemd/system/koffer.service")
	require.NoError(t, err)
	for _, want := range []string{"Type=notify", "WatchdogSec=", "ProtectSystem=strict", "ProtectHome=yes",
		"PrivateTmp=yes", "NoNewPrivileges=yes", "ReadWritePaths=/var/lib/koffer\n", "DeviceAllow=char-usb_device rw",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n", "CapabilityBoundingSet=\n",
		"SystemCallFilter=@system-service\n"} {
		assert.Contains(t, string(unit), want)
	}

	// The installed agent runs as its user on the shipped config and data directory.
	sh(t, "runuser", "-u", "koffer", "--", "/usr/bin/koffer", "init", "--training", "--data", "/var/lib/koffer")
	runAsKoffer(t, u)
	kit, err := os.ReadFile("/var/lib/koffer/kit.json")
	require.NoError(t, err)
	var bi buildInfo
	require.NoError(t, json.Unmarshal([]byte(sh(t, "/usr/bin/koffer", "version", "--json")), &bi))
	assert.Equal(t, sh(t, "dpkg-query", "-W", "-f=${Version}", "koffer"), bi.Version, "make deb stamps the package version")
	assert.NotEqual(t, "unknown", bi.Commit)

	// Upgrade (the same package again): a config edit and the data stay.
	conf, err := os.ReadFile("/etc/koffer/koffer.toml")
	require.NoError(t, err)
	edited := append(conf, []byte("log_level = \"debug\"\n")...)
	require.NoError(t, os.WriteFile("/etc/koffer/koffer.toml", edited, 0o640))
	sh(t, "dpkg", "-i", kofferDeb, townDeb)
	assertFile(t, "/etc/koffer/koffer.toml", edited)
	assertFile(t, "/var/lib/koffer/kit.json", kit)

	// Remove: the program goes, data and config stay; a reinstall finds them.
	sh(t, "dpkg", "-r", "koffer", "koffer-townhall")
	assert.NoFileExists(t, "/usr/bin/koffer")
	assertFile(t, "/var/lib/koffer/kit.json", kit)
	assert.DirExists(t, "/var/lib/koffer-townhall")
	assert.FileExists(t, "/etc/koffer/koffer.toml")
	sh(t, "dpkg", "-i", kofferDeb, townDeb)
	assertFile(t, "/var/lib/koffer/kit.json", kit)
	assertFile(t, "/etc/koffer/koffer.toml", edited)

	// Purge: data and config are gone.
	sh(t, "dpkg", "--purge", "koffer", "koffer-townhall")
	for _, p := range []string{"/var/lib/koffer", "/var/lib/koffer-townhall", "/etc/koffer", "/etc/default/koffer-townhall"} {
		assert.NoFileExists(t, p)
		assert.NoDirExists(t, p)
	}
}

// runAsKoffer starts the installed agent as the koffer user with the unit's arguments and
// stops it once it is ready.
func runAsKoffer(t *testing.T, u *user.User) {
	t.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	var logs syncBuffer
	cmd := exec.Command("/usr/bin/koffer", "agent", "--training", "--data", "/var/lib/koffer", "--config", "/etc/koffer/koffer.toml", "--listen", "127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(logs.String(), "msg=ready") {
		select {
		case err := <-done:
			t.Fatalf("installed agent exited: %v\n%s", err, logs.String())
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("installed agent not ready:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-done, logs.String())
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "%s %s: %s", name, strings.Join(args, " "), out.String())
	return out.String()
}

func glob1(t *testing.T, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	require.NoError(t, err)
	require.Len(t, m, 1, pattern)
	return m[0]
}

func assertFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if assert.NoError(t, err) {
		assert.Equal(t, string(want), string(got), path)
	}
}

func userName(t *testing.T, uid uint32) string {
	u, err := user.LookupId(strconv.Itoa(int(uid)))
	require.NoError(t, err)
	return u.Username
}

func groupName(t *testing.T, gid uint32) string {
	g, err := user.LookupGroupId(strconv.Itoa(int(gid)))
	require.NoError(t, err)
	return g.Name
}
