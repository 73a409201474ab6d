package doctor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"koffer/sync/receipt"
)

// Uplink checks the way to the town hall step by step: DNS, TCP connect, TLS handshake with the
// pinned CA and the kit's client certificate, then one HTTPS round trip (RTT) and a small
// upload (throughput). The failing step names the code and the hint.
//
// Being offline (no DNS, no TCP) is the normal state of this kit in a basement, so it is a
// warning; fail is kept for what needs a technician (wrong CA, unknown kit, bad URL). A step
// that gets no answer before the check's deadline reports the link as slow, with what it
// measured so far, a little before the deadline so the report says more than "timeout".
type Uplink struct {
	URL string      // town hall base URL (https://...)
	TLS *tls.Config // enroll.Bundle.ClientTLS: the pinned CA and the client certificate
	// ProbeBytes is the size of the throughput probe (default 64 KiB); it is POSTed to
	// URL+ProbePath and any HTTP answer counts (the bytes crossed the link).
	ProbeBytes int
	ProbePath  string
	Resolver   *net.Resolver // default net.DefaultResolver
}

var _ Check = (*Uplink)(nil)

func (u *Uplink) Name() string { return "uplink" }

func (u *Uplink) Run(parent context.Context) Result {
	ctx, cancel := withMargin(parent)
	defer cancel()
	start := time.Now()
	slow := func(done, step string, err error) (Result, bool) {
		if ctx.Err() == nil || parent.Err() != nil {
			return Result{}, false
		}
		v := done
		if v != "" {
			v += "; "
		}
		return warn(v+"no "+step+" answer within "+time.Since(start).Round(100*time.Millisecond).String(), "uplink.slow",
			"Die Verbindung zum Rathaus ist sehr langsam oder das Rathaus antwortet nicht. Übertragung kann lange dauern; die Fälle bleiben sicher gespeichert.",
			"The town hall accepts connections but answers too slowly (or not at all): a very slow link or a hung server. Cases stay queued."), true
	}
	if u.URL == "" {
		return warn("no town hall URL", "uplink.not-configured", "Keine Rathaus-Adresse eingerichtet (Schulungskoffer?).",
			"No town hall URL: a training kit never syncs.")
	}
	base, err := url.Parse(u.URL)
	if err != nil || base.Host == "" {
		return fail(u.URL, "uplink.url", "Die Rathaus-Adresse ist ungültig. Bitte die Technik rufen.", "The town hall URL does not parse.")
	}
	host, port := base.Hostname(), base.Port()
	if port == "" {
		port = "443"
	}
	res := u.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	t0 := time.Now()
	addrs, err := res.LookupHost(ctx, host)
	if r, ok := slow("", "DNS", err); ok {
		return r
	}
	if err != nil || len(addrs) == 0 {
		return warn(fmt.Sprintf("dns %s: %v", host, err), "uplink.dns", "Die Adresse des Rathauses wird nicht gefunden. Bitte Internetverbindung (SIM, WLAN) prüfen.",
			"DNS lookup of the town hall failed; check the network (SIM, Wi-Fi) and DNS.")
	}
	dnsT := time.Since(t0)
	t1 := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addrs[0], port))
	if r, ok := slow("dns "+dnsT.Round(time.Millisecond).String(), "TCP", err); ok {
		return r
	}
	if err != nil {
		return warn(fmt.Sprintf("tcp %s: %v", net.JoinHostPort(host, port), err), "uplink.tcp", "Das Rathaus ist nicht erreichbar. Bitte Internetverbindung prüfen und später erneut versuchen.",
			"TCP connect to the town hall failed: offline (normal without signal), firewall or server down. Cases stay queued.")
	}
	tcpT := time.Since(t1)
	cfg := u.TLS.Clone()
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS13}
	}
	cfg.ServerName = host
	t2 := time.Now()
	tconn := tls.Client(conn, cfg)
	if err := tconn.HandshakeContext(ctx); err != nil {
		conn.Close()
		if r, ok := slow(fmt.Sprintf("dns %s, tcp %s", dnsT.Round(time.Millisecond), tcpT.Round(time.Millisecond)), "TLS", err); ok {
			return r
		}
		code, de, en := "uplink.tls", "Die sichere Verbindung zum Rathaus schlägt fehl. Bitte die Technik rufen.",
			"TLS handshake failed."
		var ua x509.UnknownAuthorityError
		var ci x509.CertificateInvalidError
		if errors.As(err, &ua) {
			code, en = "uplink.tls-ca", "The server's certificate is not from the pinned town hall CA (wrong server, proxy, or re-issued CA): re-enroll or fix the URL."
		} else if errors.As(err, &ci) {
			code, en = "uplink.tls-cert", "The server's certificate is invalid (expired, or the kit clock is wrong: see clock)."
		}
		return fail("tls: "+err.Error(), code, de, en)
	}
	tlsT := time.Since(t2)
	// One HTTP round trip over the established connection, then the probe.
	tr := &http.Transport{DialTLSContext: func(context.Context, string, string) (net.Conn, error) { return tconn, nil }}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	t3 := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, base.String(), nil)
	resp, err := hc.Do(req)
	if r, ok := slow(fmt.Sprintf("dns %s, tcp %s, tls %s", dnsT.Round(time.Millisecond), tcpT.Round(time.Millisecond), tlsT.Round(time.Millisecond)), "HTTP", err); ok {
		return r
	}
	if err != nil {
		return fail("http: "+err.Error(), "uplink.http", "Das Rathaus antwortet nicht richtig. Bitte später erneut versuchen.", "The town hall accepted TLS but no HTTP round trip completed.")
	}
	resp.Body.Close()
	rtt := time.Since(t3)
	if resp.StatusCode == http.StatusForbidden && refusedAsRevoked(ctx, hc, base.String()) {
		return fail("http 403 revoked from the town hall", "uplink.revoked",
			"Dieser Koffer wurde vom Rathaus gesperrt (verloren oder gestohlen gemeldet). Er überträgt nichts mehr; Anmelden ist nicht mehr möglich. Bitte den Koffer beim Rathaus abgeben.",
			"The town hall revoked this kit: it refuses every request. The kit has forgotten its data key and visit key; sealed packets wait for the town hall's decision (townhall kit allow-sealed). Re-enrol under a new name.")
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fail(fmt.Sprintf("http %d from the town hall", resp.StatusCode), "uplink.unknown-kit",
			"Das Rathaus kennt diesen Koffer nicht. Bitte die Technik rufen (Koffer neu anmelden).",
			"TLS works but the town hall refuses this kit's certificate (not enrolled there, or revoked): re-enroll the kit.")
	}
	v := fmt.Sprintf("dns %s, tcp %s, tls %s, rtt %s", dnsT.Round(time.Millisecond), tcpT.Round(time.Millisecond),
		tlsT.Round(time.Millisecond), rtt.Round(time.Millisecond))
	n := u.ProbeBytes
	if n <= 0 {
		n = 64 << 10
	}
	probe := base.JoinPath(u.ProbePath)
	t4 := time.Now()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, probe.String(), bytes.NewReader(make([]byte, n)))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = hc.Do(req)
	if r, ok := slow(v, "upload probe", err); ok {
		return r
	}
	if err != nil {
		return warn(v+", probe: "+err.Error(), "uplink.probe", "Die Verbindung zum Rathaus ist sehr langsam oder bricht ab.", "The throughput probe failed.")
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if r, ok := slow(v, "upload probe", err); ok {
		return r
	}
	el := time.Since(t4)
	kbps := float64(n) / 1024 / el.Seconds()
	v += fmt.Sprintf(", %.0f KiB/s", kbps)
	if kbps < 8 {
		return warn(v, "uplink.slow", "Die Verbindung zum Rathaus ist sehr langsam. Übertragung kann lange dauern.", "Throughput below 8 KiB/s.")
	}
	return ok(v)
}

// Clock compares the kit's clock with the town hall's HTTP Date header over the pinned TLS
// configuration. A kit clock so far off that the town hall's certificate looks expired or not
// yet valid fails the handshake; that is reported as a clock failure too.
type Clock struct {
	URL      string
	TLS      *tls.Config
	Now      func() time.Time // the kit's clock, default time.Now
	WarnSkew time.Duration    // default 1 minute
	FailSkew time.Duration    // default 10 minutes
}

var _ Check = (*Clock)(nil)

func (c *Clock) Name() string { return "clock" }

func (c *Clock) Run(parent context.Context) Result {
	ctx, cancel := withMargin(parent)
	defer cancel()
	if c.URL == "" {
		return warn("no town hall URL", "clock.not-configured", "Keine Rathaus-Adresse: die Uhrzeit kann nicht geprüft werden.", "No town hall to compare the clock with.")
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	warnSkew, failSkew := c.WarnSkew, c.FailSkew
	if warnSkew <= 0 {
		warnSkew = time.Minute
	}
	if failSkew <= 0 {
		failSkew = 10 * time.Minute
	}
	cfg := c.TLS.Clone()
	if cfg != nil {
		cfg.Time = now // certificates are checked at the kit's time, as the uplink does
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.URL, nil)
	if err != nil {
		return fail(c.URL, "clock.url", "Die Rathaus-Adresse ist ungültig.", "The town hall URL does not parse.")
	}
	sent := now()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) && ci.Reason == x509.Expired {
		return fail(err.Error(), "clock.skew", "Die Uhr des Koffers geht falsch. Bitte Datum und Uhrzeit einstellen (NTP) und erneut prüfen.",
			"The town hall's certificate is outside its validity at the kit's time: the kit clock is probably far off.")
	}
	if err != nil {
		// Offline is normal for this kit: the clock cannot be compared, which is no fault.
		return warn(err.Error(), "clock.unreachable", "Die Uhrzeit kann nicht geprüft werden: das Rathaus ist nicht erreichbar (siehe uplink).",
			"Cannot compare the clock: the town hall is not reachable (see uplink).")
	}
	resp.Body.Close()
	local := sent.Add(now().Sub(sent) / 2)
	remote, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return warn("no Date header", "clock.no-date", "Das Rathaus sendet keine Uhrzeit.", "The town hall sent no usable Date header.")
	}
	skew := local.Sub(remote).Round(time.Second)
	abs := max(skew, -skew)
	v := fmt.Sprintf("skew %s", skew)
	switch {
	case abs > failSkew:
		return fail(v, "clock.skew", "Die Uhr des Koffers geht falsch. Bitte Datum und Uhrzeit einstellen (NTP) und erneut prüfen.",
			"The kit clock is far off the town hall's: fix time sync (NTP/RTC battery); certificates and deadlines depend on it.")
	case abs > warnSkew:
		return warn(v, "clock.skew", "Die Uhr des Koffers weicht ab. Bitte Uhrzeit prüfen.", "The kit clock drifts; check time sync.")
	}
	return ok(v)
}

// refusedAsRevoked asks once more with GET (a HEAD answer has no body to say why) and reports
// whether the town hall's refusal is the revocation of this kit.
func refusedAsRevoked(ctx context.Context, hc *http.Client, u string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var p receipt.Problem
	return resp.StatusCode == http.StatusForbidden &&
		json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&p) == nil && p.Code == receipt.CodeRevoked
}

// margin is how long before the check's deadline a network check stops waiting, so that it can
// report what it measured instead of being cut off by the runner.
const margin = 150 * time.Millisecond

// withMargin returns a context that ends margin before parent's deadline.
func withMargin(parent context.Context) (context.Context, context.CancelFunc) {
	dl, ok := parent.Deadline()
	if !ok {
		return context.WithCancel(parent)
	}
	return context.WithDeadline(parent, dl.Add(-margin))
}
