package escltest

import (
	"os"
	"path/filepath"
)

// TB is the part of testing.TB the fixture helpers use (this package is also linked into the
// training simulator, which must not import testing).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Models whose real answers are in the shared fixtures (../shared/fixtures/escl).
var Models = []string{"HP-LaserJet-MFP-M426fdn", "Kyocera-ECOSYS-M2040dn", "Xerox-B235"}

// FixtureDir finds shared/fixtures/escl: $KOFFER_FIXTURES/escl, else the nearest ancestor of
// the working directory holding shared/fixtures/escl (the project root's ../shared). It
// returns "" when there is none.
func FixtureDir() string {
	if d := os.Getenv("KOFFER_FIXTURES"); d != "" {
		return filepath.Join(d, "escl")
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		cand := filepath.Join(dir, "shared", "fixtures", "escl")
		if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Fixture returns the bytes of a fixture file, failing the test when it is missing: the
// fixtures are part of the project's test data, not an optional peer.
func Fixture(t TB, name string) []byte {
	t.Helper()
	dir := FixtureDir()
	if dir == "" {
		t.Fatalf("escl fixtures not found (set KOFFER_FIXTURES or keep ../shared/fixtures next to the project)")
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// NewFromFixture returns a server answering with the real capabilities of model.
func NewFromFixture(t TB, model string, b Behaviour) *Server {
	t.Helper()
	s, err := New(Fixture(t, model+"-ScannerCapabilities.xml"), b)
	if err != nil {
		t.Fatalf("escltest: %v", err)
	}
	return s
}
