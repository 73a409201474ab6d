package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
)

// secretsOf lists what must never be found on the kit's disk once a case is sealed: names,
// birth date (in every usual spelling), birth place, street and the service details.
func secretsOf(t *testing.T, file string) []string {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var f cases.File
	require.NoError(t, json.Unmarshal(raw, &f))
	p := f.Person
	bd, err := time.Parse(time.DateOnly, p.BirthDate)
	require.NoError(t, err)
	out := []string{p.FamilyName, p.GivenNames, p.BirthDate, bd.Format("02.01.2006"), bd.Format("20060102"),
		p.BirthPlace, p.Address.Street}
	out = append(out, strings.Fields(p.GivenNames)...)
	for _, v := range []string{f.Details.Insurer, f.Details.Reference, f.Details.PhotoCode} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func grepDir(t *testing.T, dir string, needles []string) {
	t.Helper()
	files := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&os.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, n := range needles {
			assert.False(t, bytes.Contains(b, []byte(n)), "%s holds %q", filepath.Base(p), n)
		}
		return nil
	}))
	assert.GreaterOrEqual(t, files, 5, "the database, its WAL and the packets were searched")
}

// TestSealedCasesLeaveNoPersonalDataOnDisk submits every valid example and searches every byte
// under the data directory (database, WAL, packets, blobs) for the citizens' names and birth
// dates, while the agent runs and again after it stopped.
func TestSealedCasesLeaveNoPersonalDataOnDisk(t *testing.T) {
	f, out, errOut := dataFactory(t)
	files, err := filepath.Glob("../../testdata/cases/valid/*/case.json")
	require.NoError(t, err)
	var needles []string
	for _, file := range files {
		needles = append(needles, secretsOf(t, file)...)
	}
	stop := startAgent(t, f)
	for _, file := range files {
		require.NoError(t, caseSubmitRun(&caseSubmitOptions{f: f, ctx: t.Context(), File: file, Now: time.Now}), errOut.String())
	}
	require.Len(t, strings.Fields(out.String()), len(files))
	grepDir(t, f.DataDir, needles)
	stop()
	grepDir(t, f.DataDir, needles)

	// Control: the same search finds the data in the case files themselves.
	var all []byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		all = append(all, b...)
	}
	derived := regexp.MustCompile(`^(\d{2}\.\d{2}\.\d{4}|\d{8})$`) // birth dates respelled above
	for _, n := range needles {
		if !derived.MatchString(n) {
			assert.True(t, bytes.Contains(all, []byte(n)), "needle %q comes from the case files", n)
		}
	}
}
