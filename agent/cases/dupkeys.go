package cases

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// duplicateKey returns the JSON path (as Problem.Field spells it, e.g. "person.family_name" or
// "attachments[1].kind") of the first key that appears twice in one object. encoding/json keeps
// the last value silently; a case file that says two things about one field is refused instead.
// It reports nothing for malformed JSON: the decoder names that.
func duplicateKey(data []byte) (string, bool) {
	if !json.Valid(data) {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dup, ok, _ := walkValue(dec, "")
	return dup, ok
}

// walkValue consumes one value; it returns the path of a duplicate key if one is found.
func walkValue(dec *json.Decoder, at string) (string, bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", false, err
			}
			k, _ := kt.(string)
			field := k
			if k == "" {
				field = `""`
			}
			if at != "" {
				field = at + "." + field
			}
			// encoding/json matches keys case-insensitively, so "Family_Name" is the same field.
			fold := strings.ToLower(strings.ToUpper(k))
			if seen[fold] {
				return field, true, nil
			}
			seen[fold] = true
			if dup, ok, err := walkValue(dec, field); ok || err != nil {
				return dup, ok, err
			}
		}
		_, err = dec.Token()
		return "", false, err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if dup, ok, err := walkValue(dec, at+"["+strconv.Itoa(i)+"]"); ok || err != nil {
				return dup, ok, err
			}
		}
		_, err = dec.Token()
		return "", false, err
	}
	return "", false, nil
}
