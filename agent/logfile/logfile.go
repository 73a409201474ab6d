// Package logfile keeps the agent's own recent log in its data directory, capped in size, so a
// support bundle has the log on machines without journald. The log holds ids and codes only,
// never personal data (the rule for every log line), so it may sit beside the database.
package logfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Name is the current log file in the data directory; Name+".1" holds the previous one.
const Name = "agent.log"

// MaxSize is when the current file is rotated: at most about twice this is kept.
const MaxSize = 1 << 20

// File is an io.Writer that appends to DIR/agent.log and rotates it at MaxSize.
type File struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
}

// Open opens (or creates, mode 0600) the log file in dir.
func Open(dir string) (*File, error) {
	l := &File{path: filepath.Join(dir, Name)}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends p, rotating first when it would grow the file beyond MaxSize. A log line that
// cannot be written is dropped rather than stopping the agent.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return len(p), nil
	}
	if l.size+int64(len(p)) > MaxSize && l.size > 0 {
		l.f.Close()
		l.f = nil
		_ = os.Rename(l.path, l.path+".1")
		if err := l.open(); err != nil {
			return len(p), nil
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	if err != nil {
		return len(p), nil
	}
	return n, nil
}

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Recent returns the last maxLines lines of the log in dir (previous file included), or
// fs.ErrNotExist if the agent never wrote one there.
func Recent(dir string, maxLines int) ([]byte, error) {
	var all []byte
	found := false
	for _, name := range []string{Name + ".1", Name} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		all = append(all, b...)
	}
	if !found {
		return nil, fs.ErrNotExist
	}
	lines := bytes.SplitAfter(all, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return bytes.Join(lines, nil), nil
}
