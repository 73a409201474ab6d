package agent_test

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type goPackage struct {
	ImportPath                string
	Dir                       string
	Name                      string
	GoFiles                   []string
	Imports                   []string
	Deps                      []string // every package it reaches, transitively
	TestImports, XTestImports []string
}

// modulePackages lists the module's packages with `go list`.
func modulePackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "koffer/...")
	out, err := cmd.Output()
	require.NoError(t, err)
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p goPackage
		require.NoError(t, dec.Decode(&p))
		pkgs = append(pkgs, p)
	}
	require.NotEmpty(t, pkgs)
	return pkgs
}

// peerPackage finds real peers for tests (skip, or fail under KOFFER_REQUIRE_PEERS=1): the
// one devices package that tests and test-helper packages (named …test) of sync may use.
const peerPackage = "koffer/devices/peer"

func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// TestLayers keeps the dependency rules of docs/layout.md: the lower layers never reach up
// into the agent, devices and sync do not know each other, and nothing imports a command.
// The rules hold for everything a package reaches (go list's Deps), not just what it names,
// and for what its tests import.
func TestLayers(t *testing.T) {
	rules := []struct {
		from, to string
	}{
		{"koffer/store", "koffer/agent"},
		{"koffer/devices", "koffer/agent"},
		{"koffer/sync", "koffer/agent"},
		{"koffer/devices", "koffer/store"},
		{"koffer/devices", "koffer/sync"},
		{"koffer/sync", "koffer/devices"},
		{"koffer/store", "koffer/devices"},
		{"koffer/store", "koffer/sync"},
		{"koffer", "koffer/cmd"},
	}
	pkgs := modulePackages(t)
	for _, p := range pkgs {
		reached := append(append(append([]string(nil), p.Deps...), p.TestImports...), p.XTestImports...)
		for _, imp := range reached {
			if imp == peerPackage && (strings.HasSuffix(p.Name, "test") || !slices.Contains(p.Deps, imp)) {
				continue // tests and test helpers of any layer find their real peers through it
			}
			for _, r := range rules {
				if under(p.ImportPath, r.from) && under(imp, r.to) && !under(p.ImportPath, r.to) {
					t.Errorf("%s reaches %s: %s must not depend on %s", p.ImportPath, imp, r.from, r.to)
				}
			}
		}
	}
	// The check is transitive: store reaches far below its direct imports.
	for _, p := range pkgs {
		if p.ImportPath == "koffer/store" {
			assert.Greater(t, len(p.Deps), len(p.Imports), "go list reported transitive deps")
		}
	}
}

// TestPackageDocs: every package has exactly one `// Package x` comment.
func TestPackageDocs(t *testing.T) {
	for _, p := range modulePackages(t) {
		if len(p.GoFiles) == 0 {
			continue
		}
		docs := 0
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			require.NoError(t, err)
			if file.Doc != nil && strings.HasPrefix(file.Doc.Text(), "Package "+p.Name) ||
				file.Doc != nil && p.Name == "main" && strings.HasPrefix(file.Doc.Text(), "Command ") {
				docs++
			}
		}
		assert.Equal(t, 1, docs, "%s: want exactly one package doc comment, found %d", p.ImportPath, docs)
	}
}
