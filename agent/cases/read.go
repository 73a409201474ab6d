package cases

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
)

// ReadTimeout bounds reading one case file or attachment: a file on a stalled network mount or
// removable disk is refused rather than waited for.
const ReadTimeout = 5 * time.Second

// ReadFile reads a case file with a size bound: a file larger than MaxFileSize is refused
// before it is read, and anything that is not a regular file (a FIFO, a device) is refused
// without blocking on it. Problems are *ValidationError naming the file.
func ReadFile(ctx context.Context, name string) ([]byte, error) {
	fh, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read case file: %w", err)
		}
		return nil, &ValidationError{[]Problem{fileProblem("", err)}}
	}
	defer fh.Close()
	data, p := readRegular(ctx, fh, MaxFileSize)
	if p != nil {
		p.Field = ""
		p.Message = strings.Replace(p.Message, "file", "case file", 1)
		return nil, &ValidationError{[]Problem{*p}}
	}
	return data, nil
}

// ReadAttachments reads the files f names from root (the case file's folder). Each must be a
// regular file inside that folder: os.Root refuses a path or symlink leading out of it, and
// FIFOs and devices are refused without being read. A file that is missing, unreadable or
// refused becomes a Problem naming the attachment; data[i] is nil for it.
func ReadAttachments(ctx context.Context, root *os.Root, f *File) ([][]byte, []Problem) {
	data := make([][]byte, len(f.Attachments))
	var ps []Problem
	for i, at := range f.Attachments {
		name := path.Clean(at.File)
		if at.File == "" || !fs.ValidPath(name) {
			continue // Validate reports it
		}
		field := fmt.Sprintf("attachments[%d].file", i)
		fh, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			p := fileProblem(field, err)
			ps = append(ps, p)
			continue
		}
		d, p := readRegular(ctx, fh, MaxAttachmentSize)
		fh.Close()
		if p != nil {
			p.Field = field
			ps = append(ps, *p)
			continue
		}
		data[i] = d
	}
	return data, ps
}

// fileProblem names why a file could not be opened.
func fileProblem(field string, err error) Problem {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Problem{Field: field, Code: "missing", Message: "file not found", Hint: "Die Anlage fehlt."}
	case strings.Contains(err.Error(), "path escapes from parent"): // os.Root's refusal has no exported sentinel
		return Problem{Field: field, Code: "outside-folder", Message: "file or a folder on its path leads outside the case file's folder",
			Hint: "Die Anlage muss im Ordner der Falldatei liegen (keine Verknüpfung nach außen)."}
	case errors.Is(err, fs.ErrPermission):
		return Problem{Field: field, Code: "permission", Message: "no permission to read the file", Hint: "Die Datei darf nicht gelesen werden."}
	}
	return Problem{Field: field, Code: "unreadable", Message: "file cannot be read", Hint: "Die Datei kann nicht gelesen werden."}
}

// readRegular reads fh if it is a regular file of at most limit bytes, within ReadTimeout (or
// ctx's deadline if sooner). The size is checked before reading and again while reading, since
// the file may grow.
func readRegular(ctx context.Context, fh *os.File, limit int64) ([]byte, *Problem) {
	st, err := fh.Stat()
	if err != nil {
		p := fileProblem("", err)
		return nil, &p
	}
	if !st.Mode().IsRegular() {
		return nil, &Problem{Code: "not-regular", Message: "not a regular file (" + fileType(st.Mode()) + ")",
			Hint: "Die Datei ist keine normale Datei."}
	}
	tooLarge := &Problem{Code: "too-large", Message: fmt.Sprintf("file larger than %d bytes", limit), Hint: "Die Datei ist zu groß."}
	if st.Size() > limit {
		return nil, tooLarge
	}
	ctx, cancel := context.WithTimeout(ctx, ReadTimeout)
	defer cancel()
	buf := make([]byte, 0, st.Size()+1)
	chunk := make([]byte, 256<<10)
	for {
		if ctx.Err() != nil {
			return nil, &Problem{Code: "timeout", Message: "reading the file took too long", Hint: "Die Datei konnte nicht rechtzeitig gelesen werden."}
		}
		n, err := fh.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if int64(len(buf)) > limit {
			return nil, tooLarge
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			p := fileProblem("", err)
			return nil, &p
		}
	}
}

func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}
