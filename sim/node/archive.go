package node

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// archiveWriter builds a gzip-compressed tar in memory with GNU headers,
// like Neuwerk's sysdump archives.
type archiveWriter struct {
	buf     bytes.Buffer
	gz      *gzip.Writer
	tw      *tar.Writer
	modTime time.Time
	err     error
}

func newArchiveWriter(now time.Time) *archiveWriter {
	a := &archiveWriter{modTime: now.Truncate(time.Second)}
	a.gz = gzip.NewWriter(&a.buf)
	a.tw = tar.NewWriter(a.gz)
	return a
}

// add writes one regular file member.
func (a *archiveWriter) add(name string, data []byte, mode int64) {
	if a.err != nil {
		return
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: mode,
		ModTime: a.modTime, Uname: "root", Gname: "root", Format: tar.FormatGNU,
	}
	if a.err = a.tw.WriteHeader(hdr); a.err == nil {
		_, a.err = a.tw.Write(data)
	}
}

// addJSON writes v as indented JSON (mode 0644).
func (a *archiveWriter) addJSON(name string, v any) {
	data, err := jsonIndent(v)
	if err != nil {
		a.err = errors.Join(a.err, err)
		return
	}
	a.add(name, data, 0o644)
}

// finish closes the archive and returns its bytes.
func (a *archiveWriter) finish() ([]byte, error) {
	if a.err != nil {
		return nil, a.err
	}
	if err := a.tw.Close(); err != nil {
		return nil, err
	}
	if err := a.gz.Close(); err != nil {
		return nil, err
	}
	return a.buf.Bytes(), nil
}

// readArchiveMember returns one member of a .tar.gz.
func readArchiveMember(archive []byte, name string) ([]byte, bool) {
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, false
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err != nil {
			return nil, false
		}
		if hdr.Name == name {
			data, err := io.ReadAll(tr)
			return data, err == nil
		}
	}
}

func jsonIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
