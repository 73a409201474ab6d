package sim

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"koffer/devices/escl/escltest"
)

// scannerCapabilities is the simulated scanner's ScannerCapabilities: a flatbed and a simplex
// feeder, grey and colour, 150/300/600 dpi, JPEG, up to A4 on the glass and legal in the feeder.
func scannerCapabilities() string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<scan:ScannerCapabilities xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm">
<pwg:Version>2.63</pwg:Version><pwg:MakeAndModel>koffer Übungsscanner</pwg:MakeAndModel><pwg:SerialNumber>SIM-0001</pwg:SerialNumber>
<scan:Platen><scan:PlatenInputCaps>` + simInputCaps(3508) + `</scan:PlatenInputCaps></scan:Platen>
<scan:Adf><scan:AdfSimplexInputCaps>` + simInputCaps(4200) + `</scan:AdfSimplexInputCaps><scan:FeederCapacity>50</scan:FeederCapacity></scan:Adf>
</scan:ScannerCapabilities>`
}

func simInputCaps(maxHeight int) string {
	res := ""
	for _, d := range []int{150, 300, 600} {
		res += fmt.Sprintf("<scan:DiscreteResolution><scan:XResolution>%d</scan:XResolution><scan:YResolution>%d</scan:YResolution></scan:DiscreteResolution>", d, d)
	}
	return fmt.Sprintf(`<scan:MinWidth>300</scan:MinWidth><scan:MaxWidth>2550</scan:MaxWidth><scan:MinHeight>300</scan:MinHeight><scan:MaxHeight>%d</scan:MaxHeight>`+
		`<scan:SettingProfiles><scan:SettingProfile><scan:ColorModes><scan:ColorMode>Grayscale8</scan:ColorMode><scan:ColorMode>RGB24</scan:ColorMode></scan:ColorModes>`+
		`<scan:DocumentFormats><pwg:DocumentFormat>image/jpeg</pwg:DocumentFormat></scan:DocumentFormats>`+
		`<scan:SupportedResolutions><scan:DiscreteResolutions>%s</scan:DiscreteResolutions></scan:SupportedResolutions></scan:SettingProfile></scan:SettingProfiles>`+
		`<scan:SupportedIntents><scan:Intent>Document</scan:Intent><scan:Intent>Photo</scan:Intent></scan:SupportedIntents>`, maxHeight, res)
}

// ScannerOptions shape the simulated scanner; the zero value scans 2 feeder pages at a
// realistic 1.5 s per page.
type ScannerOptions struct {
	FeederPages int           // pages in the feeder per job (default 2)
	PageTime    time.Duration // time per page (default 1.5s)
	Jam         bool          // jam after the first feeder page, to practise the hint
}

// Scanner is a simulated eSCL scanner listening on loopback.
type Scanner struct {
	srv *http.Server
	ln  net.Listener
	url string
}

// StartScanner starts the simulated scanner on a free loopback port. Its eSCL root is URL().
func StartScanner(opts ScannerOptions) (*Scanner, error) {
	b := escltest.Behaviour{
		ADFPages:  cmp.Or(opts.FeederPages, 2),
		PageDelay: cmp.Or(opts.PageTime, 1500*time.Millisecond),
	}
	if opts.Jam {
		b.JamAfter = 1
	}
	h, err := escltest.New([]byte(scannerCapabilities()), b)
	if err != nil {
		return nil, fmt.Errorf("sim scanner: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sim scanner: listen: %w", err)
	}
	s := &Scanner{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, ln: ln, url: "http://" + ln.Addr().String() + "/eSCL"}
	go func() { _ = s.srv.Serve(ln) }() // ends with http.ErrServerClosed on Close
	return s, nil
}

// URL is the eSCL root of the simulated scanner.
func (s *Scanner) URL() string { return s.url }

// Close stops the simulated scanner.
func (s *Scanner) Close(ctx context.Context) error { return s.srv.Shutdown(ctx) }
