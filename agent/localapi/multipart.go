package localapi

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strconv"

	"koffer/agent/cases"
)

// The multipart form of a SubmitRequest (POST /v1/cases with multipart/form-data): a field
// "id", a part "case" with the case file, then one part "file" per attachment in the order of
// case.attachments, each with its Content-Length. The files are read into memory once, at
// their size, instead of as base64 inside a JSON document that is buffered whole.

// WriteSubmit writes req as the multipart form and closes mw.
func WriteSubmit(mw *multipart.Writer, req SubmitRequest) error {
	if err := mw.WriteField("id", req.ID); err != nil {
		return err
	}
	part := func(name string, data []byte) error {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, name))
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.Itoa(len(data)))
		w, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	if err := part("case", req.Case); err != nil {
		return err
	}
	for _, f := range req.Files {
		if err := part("file", f); err != nil {
			return err
		}
	}
	return mw.Close()
}

// ReadSubmit reads the multipart form of a SubmitRequest, bounding each part: the case file by
// cases.MaxFileSize, each file by cases.MaxAttachmentSize, the number of files by the bound
// on attachments.
func ReadSubmit(mr *multipart.Reader) (SubmitRequest, error) {
	var req SubmitRequest
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return req, err
		}
		switch p.FormName() {
		case "id":
			b, err := readPart(p, 64)
			if err != nil {
				return req, fmt.Errorf("id: %w", err)
			}
			req.ID = string(b)
		case "case":
			if req.Case, err = readPart(p, cases.MaxFileSize); err != nil {
				return req, fmt.Errorf("case: %w", err)
			}
		case "file":
			if len(req.Files) >= maxFiles {
				return req, fmt.Errorf("more than %d files", maxFiles)
			}
			b, err := readPart(p, cases.MaxAttachmentSize)
			if err != nil {
				return req, fmt.Errorf("file %d: %w", len(req.Files), err)
			}
			req.Files = append(req.Files, b)
		default:
			return req, fmt.Errorf("unknown part %q", p.FormName())
		}
	}
	if req.Case == nil {
		return req, errors.New("no case part")
	}
	return req, nil
}

// maxFiles bounds the attachments of one case.
const maxFiles = 64

// readPart reads a part of at most limit bytes, allocating once when it states its length.
func readPart(p *multipart.Part, limit int64) ([]byte, error) {
	if n, err := strconv.ParseInt(p.Header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		if n > limit {
			return nil, fmt.Errorf("larger than %d bytes", limit)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(p, b); err != nil {
			return nil, err
		}
		var one [1]byte
		if m, _ := p.Read(one[:]); m > 0 {
			return nil, errors.New("longer than its Content-Length")
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(p, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}
