package usbreader

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUdevRulesNameEveryReader keeps the packaged udev rules (docs/deb/koffer/60-koffer.rules)
// equal to the drivers' model tables: a reader added to a driver but not to the rules would
// be found by `koffer devices` and then refused by the kernel to the service user.
func TestUdevRulesNameEveryReader(t *testing.T) {
	raw, err := os.ReadFile("../../../docs/deb/koffer/60-koffer.rules")
	require.NoError(t, err)
	rule := regexp.MustCompile(`(?m)^ATTR\{idVendor\}=="([0-9a-f]{4})", ATTR\{idProduct\}=="([0-9a-f]{4})", MODE="0660", GROUP="plugdev"$`)
	inRules := map[string]bool{}
	for _, m := range rule.FindAllStringSubmatch(string(raw), -1) {
		inRules[m[1]+":"+m[2]] = true
	}
	for _, m := range Models() {
		id := fmt.Sprintf("%04x:%04x", m.ID.Vendor, m.ID.Product)
		assert.True(t, inRules[id], "60-koffer.rules lacks %s (%s)", id, m.Name)
		delete(inRules, id)
	}
	// What is left are printers and scanners; a reader removed from a driver shows up here.
	assert.Equal(t, map[string]bool{"04f9:2042": true}, inRules, "rules for devices no driver or profile names")
}
