package agent

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/web"
	"koffer/devices/fingerprint/iso19794"
	"koffer/sync/packet"
)

// sampleValues are valid values for the fields that need a particular form; every other text
// field gets "Wert <name>", choices their first option, checkboxes a tick.
func sampleValues(svc web.Service, now time.Time) map[string]string {
	nationality := "ITA" // not the Personalausweis default, so a value that does not arrive shows
	if svc == web.Personalausweis {
		nationality = "DEU" // identity cards are for Germans only
	}
	v := map[string]string{
		"person.birth_date": "14.07.1948", "person.nationality": nationality,
		"person.address.postal_code": "23966", "details.previous_address.postal_code": "18055",
		"details.height_cm": "168", "details.move_in_date": now.AddDate(0, 0, -3).Format("02.01.2006"),
		"details.extended": "simple", // the kit prints the simple certificate only
		// The Meldeschein: a main dwelling with the other residence filled in, both in Germany.
		"details.meldeschein.dwelling": "main", "details.previous_address.country": "",
		"details.meldeschein.other_residences[0].postal_code": "18057", "details.meldeschein.other_residences[0].country": "",
	}
	for _, p := range []string{"details.meldeschein", "details.co_movers[0]", "details.co_movers[1]"} {
		v[p+".other_nationalities"] = "POL"
		v[p+".id_documents[0].issued"] = "01.06.2021"
		v[p+".id_documents[0].valid_until"] = "31.05.2031"
		v[p+".birth_date"] = "03.12.1982"
		v[p+".nationality"] = "AUT"
	}
	return v
}

func fillValue(fd web.FieldDef, samples map[string]string) string {
	if v, ok := samples[fd.Path]; ok && !fd.UIOnly {
		return v
	}
	switch fd.Type {
	case "checkbox":
		return "ja"
	case "radio", "select":
		for _, o := range fd.Options {
			if o.Value != "" {
				return o.Value
			}
		}
	}
	return "Wert " + fd.Name
}

// canonical is the value a field's input stands for in the case file, worked out here and not
// by cases.File.Set, so a path that drops its value cannot agree with itself.
func canonical(t *testing.T, fd web.FieldDef, v string) string {
	switch {
	case fd.Type == "date":
		d, err := time.Parse("02.01.2006", v)
		require.NoError(t, err)
		return d.Format(time.DateOnly)
	case fd.Type == "checkbox":
		return "yes" // a confirmation is set
	}
	return v
}

// TestFlowFieldsReachPacket fills every field of every flow through the UI of a real agent (real
// store, simulated devices), seals the case and opens the packet with the training town hall's
// key: each value must arrive in form.json at the case-file path the flow names, unless the
// flow marks the field UI-only. The capture record, the waiver and the ISO/IEC 19794-4 records
// are checked on the way.
func TestFlowFieldsReachPacket(t *testing.T) {
	paths := cases.Paths()
	for _, flow := range web.Flows {
		t.Run(string(flow.Service), func(t *testing.T) {
			a, _, u := newUI(t)
			now := a.now()
			samples := sampleValues(flow.Service, now)
			var p string
			if flow.Service == web.Meldebescheinigung {
				// Printed from the register extract of a visit pack only.
				_, err := a.StoreVisitPack(t.Context(), "pack-1", sealTodaysPack(t, a))
				require.NoError(t, err)
				r := u.do(http.MethodPost, "/vorgang", url.Values{"service": {string(flow.Service)}, "visit": {"pack-1/termin-1"}})
				require.Equal(t, http.StatusSeeOther, r.status)
				p = u.do(http.MethodGet, r.location, nil).location
			} else {
				p = u.start(flow.Service)
			}
			filled := map[string]web.FieldDef{} // field name -> definition
			posted := map[string]string{}
			for _, step := range flow.Steps {
				form := url.Values{}
				for _, fd := range step.Fields {
					require.True(t, fd.UIOnly != (fd.Path != ""), "%s: a field fills a case-file path or is UI-only", fd.Name)
					if !fd.UIOnly {
						require.Contains(t, paths, fd.Path, "%s: the path is one agent/cases knows", fd.Name)
					}
					v := fillValue(fd, samples)
					form.Set(fd.Name, v)
					filled[fd.Name], posted[fd.Name] = fd, v
				}
				switch step.Kind {
				case web.KindScan:
					r := u.step(p, "scannen", nil)
					require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
				case web.KindPrint:
					r := u.step(p, "drucken", nil)
					require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
				case web.KindFingers:
					u.captureFingers(p)
				case web.KindSummary:
					continue
				}
				p = u.next(p, form)
			}
			id := u.finish(p)
			pk, got := openForm(t, a, id)
			sealed := &cases.File{Service: flow.Service, Person: got.Person, Details: got.Details}
			for name, fd := range filled {
				if fd.UIOnly {
					continue
				}
				assert.Equal(t, canonical(t, fd, posted[name]), sealed.Get(fd.Path), "field %s (%s) reaches form.json", name, fd.Path)
			}
			if _, signs := posted["unterschrift_verzicht"]; signs {
				require.NotNil(t, sealed.Details.SignatureWaiver, "the waiver is sealed")
				assert.NotContains(t, kinds(pk), cases.KindSignature, "a waiver instead of a signature")
			}
			if flow.Service == web.Personalausweis {
				checkFingerprints(t, pk, got.Details, got.Attachments)
			}
		})
	}
}

// openForm opens the packet of a sealed case with the training town hall's key and decodes
// its form.json.
func openForm(t *testing.T, a *Agent, id string) (*packet.Packet, sealedForm) {
	t.Helper()
	pk := openPacket(t, a, id)
	require.Equal(t, "form.json", pk.Parts[0].Name)
	var got sealedForm
	require.NoError(t, json.Unmarshal(pk.Parts[0].Data, &got))
	return pk, got
}

// openPacket opens the packet of a sealed case as the (training) town hall would.
func openPacket(t *testing.T, a *Agent, id string) *packet.Packet {
	t.Helper()
	it, err := a.Store().Outbox(t.Context(), id)
	require.NoError(t, err)
	data, err := os.ReadFile(it.PacketPath)
	require.NoError(t, err)
	ident, err := a.TrainingIdentity()
	require.NoError(t, err)
	pub, err := a.Kit().Bundle.PublicKey()
	require.NoError(t, err)
	pk, err := packet.Open(data, pub, ident)
	require.NoError(t, err)
	return pk
}

type sealedForm struct {
	Person      cases.Person       `json:"person"`
	Details     cases.Details      `json:"details"`
	Attachments []cases.Attachment `json:"attachments"`
}

// TestCaseFileCarriesCaptureAndWaiver: `koffer case submit` seals the same data the UI does:
// the capture record, payment and photo source, and a signature waiver instead of a signature.
func TestCaseFileCarriesCaptureAndWaiver(t *testing.T) {
	a := newTestAgent(t, Options{})
	res, err := a.Submit(t.Context(), request(t, "personalausweis-photo-code"))
	require.NoError(t, err)
	_, got := openForm(t, a, res.ID)
	require.NotNil(t, got.Details.Fingerprints)
	assert.Len(t, got.Details.Fingerprints.Attempts, 3)
	assert.Contains(t, got.Details.Fingerprints.Decisions, cases.FingerDecision{Hand: "left", Finger: "left_index", Action: cases.FingerNone, Reason: "missing"})
	assert.Equal(t, "card", got.Details.Payment)
	assert.Equal(t, cases.PhotoPhotographer, got.Details.PhotoSource)
	assert.True(t, got.Attachments[0].ByOperator, "filled in from the capture record")
	assert.Equal(t, cases.MethodNFIQ2, got.Attachments[0].Method)

	res, err = a.Submit(t.Context(), request(t, "wohnsitzanmeldung-waiver"))
	require.NoError(t, err)
	_, got = openForm(t, a, res.ID)
	require.NotNil(t, got.Details.SignatureWaiver)
	assert.Equal(t, "kann nach einem Schlaganfall nicht schreiben", got.Details.SignatureWaiver.Reason)
	assert.Equal(t, []string{"form_signed", "landlord_confirmation_present"}, got.Details.Confirmations)
}

func kinds(p *packet.Packet) []string {
	var out []string
	for _, part := range p.Parts {
		out = append(out, part.Kind)
	}
	return out
}

// captureFingers walks the procedure of cases.Capture with the simulated reader (an estimate,
// so the operator decides): the left index finger is skipped as injured, the left thumb and
// the right index finger get three attempts each and the operator keeps the best.
func (u *uiClient) captureFingers(p string) {
	u.t.Helper()
	r := u.step(p, cases.FingerSkip, url.Values{"finger": {"left_index"}, "grund_left": {"injured"}})
	require.Equal(u.t, http.StatusSeeOther, r.status, errorsOf(r.body))
	for _, f := range []string{"left_thumb", "right_index"} {
		for range cases.MaxAttempts {
			r := u.step(p, "erfassen", url.Values{"finger": {f}})
			require.Equal(u.t, http.StatusSeeOther, r.status, errorsOf(r.body))
		}
		r := u.step(p, "erfassen", url.Values{"finger": {f}})
		require.Equal(u.t, http.StatusUnprocessableEntity, r.status, "no fourth attempt")
		r = u.step(p, cases.FingerAccept, url.Values{"finger": {f}})
		require.Equal(u.t, http.StatusSeeOther, r.status, errorsOf(r.body))
	}
}

func checkFingerprints(t *testing.T, pk *packet.Packet, d cases.Details, atts []cases.Attachment) {
	t.Helper()
	require.NotNil(t, d.Fingerprints, "the capture record is sealed")
	assert.Len(t, d.Fingerprints.Attempts, 2*cases.MaxAttempts)
	for _, a := range d.Fingerprints.Attempts {
		assert.Equal(t, cases.MethodEstimate, a.Method, "the method of every attempt")
	}
	assert.Contains(t, d.Fingerprints.Decisions, cases.FingerDecision{Hand: "left", Finger: "left_index", Action: cases.FingerSkip, Reason: "injured"})
	assert.Contains(t, d.Fingerprints.Decisions, cases.FingerDecision{Hand: "right", Finger: "right_index", Action: cases.FingerAccept})
	var fingers []string
	for i, at := range atts {
		if at.Kind != cases.KindFingerprint {
			continue
		}
		fingers = append(fingers, at.Finger)
		assert.Equal(t, cases.MaxAttempts, at.Attempts)
		assert.Equal(t, cases.MethodEstimate, at.Method)
		assert.True(t, at.ByOperator, "kept by the operator's decision")
		rec, err := iso19794.Parse(pk.Parts[i+1].Data)
		require.NoError(t, err, "an ISO/IEC 19794-4 record")
		pos, _ := cases.FingerPosition(at.Finger)
		assert.Equal(t, pos, rec.Views[0].Position)
		assert.Zero(t, rec.Views[0].Quality, "an estimate is never written as an NFIQ 2 quality")
	}
	slices.Sort(fingers)
	assert.Equal(t, []string{"left_thumb", "right_index"}, fingers)
}
