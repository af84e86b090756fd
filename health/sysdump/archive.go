// Package sysdump reads Neuwerk sysdump archives, and holds the JSON
// types of their well-known members.
//
// A cluster sysdump (facts §4) is a gzip'd tar whose nodes/<id>/sysdump.tar.gz
// members are themselves gzip'd tars. The reader streams: it never holds
// the archive in memory, only the one member asked for, so memory is
// bounded by the largest member read (and capped by MaxMemberSize).
//
// Nested members are named by their archive's path, NestedSep, and their
// path inside it:
//
//	nodes/83887612463901818417196338898998763023/sysdump.tar.gz!summary/manifest.json
//
// ArchiveMember carries the same split as Parent and Name.
package sysdump

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health"
)

// NestedSep joins a nested archive's path and a member path inside it.
const NestedSep = "!"

// DefaultMaxMemberSize caps one member read into memory.
const DefaultMaxMemberSize int64 = 256 << 20

// ErrMemberNotFound is wrapped by Read when the archive lacks the member.
var ErrMemberNotFound = errors.New("no such member")

// ArchiveMember is one member of a sysdump, outer or nested.
type ArchiveMember struct {
	Path    string // full path; nested: Parent + NestedSep + Name
	Parent  string // the nested archive's path; "" for outer members
	Name    string // path inside its own archive
	Size    int64
	Mode    int64
	ModTime time.Time
	Type    byte // tar type flag (tar.TypeReg, tar.TypeDir, ...)
	// Nested is true for an outer member that is itself an archive; its
	// members follow it in the listing.
	Nested bool
	// Err says why a nested archive could not be listed: it is set on the
	// archive's own entry when it cannot be opened, or on a final entry
	// with an empty Name when it breaks part-way (the members read before
	// the damage are still listed). The outer walk goes on either way.
	Err string
}

// IsDir reports a directory entry.
func (m ArchiveMember) IsDir() bool { return m.Type == tar.TypeDir }

// NestedPath joins a nested archive path and a member path inside it.
func NestedPath(parent, name string) string { return parent + NestedSep + name }

// SplitNested splits "parent!name" into its parts; outer paths give ("", path).
func SplitNested(path string) (parent, name string) {
	if i := strings.Index(path, NestedSep); i >= 0 {
		return path[:i], path[i+len(NestedSep):]
	}
	return "", path
}

// NodeArchivePath is the nested archive of a node in a cluster sysdump.
func NodeArchivePath(nodeID string) string { return "nodes/" + nodeID + "/sysdump.tar.gz" }

// NodeMetaPath is nodes/<id>/meta.json in a cluster sysdump.
func NodeMetaPath(nodeID string) string { return "nodes/" + nodeID + "/meta.json" }

// isNestedArchive decides which outer members are opened in place.
func isNestedArchive(h *tar.Header) bool {
	return h.Typeflag == tar.TypeReg && (strings.HasSuffix(h.Name, ".tar.gz") || strings.HasSuffix(h.Name, ".tgz"))
}

// Archive reads a sysdump file on disk. Each call streams the file anew,
// so an Archive is cheap and safe for concurrent use.
type Archive struct {
	Path string
	// MaxMemberSize caps a member read into memory; 0 means
	// DefaultMaxMemberSize. Larger members are refused, not truncated.
	MaxMemberSize int64
}

// OpenArchive returns an Archive for path after checking the file exists.
func OpenArchive(path string) (*Archive, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sysdump %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("sysdump %s: is a directory, not a .tar.gz", path)
	}
	return &Archive{Path: path}, nil
}

// List returns every member in archive order, with each nested archive's
// members right after it.
func (a *Archive) List() ([]ArchiveMember, error) {
	var out []ArchiveMember
	err := a.Walk(func(m ArchiveMember, _ io.Reader) error {
		out = append(out, m)
		return nil
	})
	return out, err
}

// Walk streams every member, as List orders them, to fn with a reader of
// its content that is valid only during the call (nil for a nested
// archive's own entry, whose members are walked next). An error from fn
// stops the walk and is returned as is.
func (a *Archive) Walk(fn func(m ArchiveMember, content io.Reader) error) error {
	return a.withFile(func(r io.Reader) error {
		return walkArchive(r, a.Path, func(string) bool { return true }, fn)
	})
}

// Read returns one member's content, outer ("cluster/overview.json") or
// nested ("nodes/<id>/sysdump.tar.gz!summary/manifest.json"), bounded by
// the member's size and MaxMemberSize.
func (a *Archive) Read(member string) ([]byte, error) {
	var data []byte
	err := a.withFile(func(r io.Reader) error {
		var err error
		data, err = readMember(r, a.Path, member, a.maxSize())
		return err
	})
	return data, err
}

// Manifest decodes the outer manifest.json.
func (a *Archive) Manifest() (Manifest, error) {
	var v Manifest
	return v, a.decode(ManifestPath, &v, "generated_at")
}

// Overview decodes cluster/overview.json.
func (a *Archive) Overview() (Overview, error) {
	var v Overview
	return v, a.decode(OverviewPath, &v, "nodes")
}

// Failures decodes cluster/failures.json.
func (a *Archive) Failures() (Failures, error) {
	var v Failures
	return v, a.decode(FailuresPath, &v, "failures")
}

// Membership decodes cluster/membership.json; it is absent (an error
// wrapping ErrMemberNotFound) when the leader had no Raft store summary.
func (a *Archive) Membership() (Membership, error) {
	var v Membership
	return v, a.decode(MembershipPath, &v, "nodes")
}

// NodeMeta decodes nodes/<id>/meta.json.
func (a *Archive) NodeMeta(nodeID string) (NodeMeta, error) {
	var v NodeMeta
	return v, a.decode(NodeMetaPath(nodeID), &v, "node_id")
}

// NodeManifest decodes summary/manifest.json of a node's nested archive.
// For a per-node sysdump (no nesting), pass nodeID "".
func (a *Archive) NodeManifest(nodeID string) (NodeManifest, error) {
	path := NodeSummaryManifest
	if nodeID != "" {
		path = NestedPath(NodeArchivePath(nodeID), NodeSummaryManifest)
	}
	var v NodeManifest
	return v, a.decode(path, &v, "entries")
}

func (a *Archive) decode(member string, v any, required ...string) error {
	data, err := a.Read(member)
	if err != nil {
		return err
	}
	if err := health.DecodeStrict(data, v, required...); err != nil {
		return fmt.Errorf("sysdump %s: %s: %w", a.Path, member, err)
	}
	return nil
}

func (a *Archive) maxSize() int64 {
	if a.MaxMemberSize > 0 {
		return a.MaxMemberSize
	}
	return DefaultMaxMemberSize
}

func (a *Archive) withFile(fn func(io.Reader) error) error {
	f, err := os.Open(a.Path)
	if err != nil {
		return fmt.Errorf("sysdump %s: %w", a.Path, err)
	}
	defer f.Close()
	return fn(bufio.NewReaderSize(f, 64<<10))
}

// ListArchive lists the members of a sysdump streamed from r; name is used
// in errors only.
func ListArchive(r io.Reader, name string) ([]ArchiveMember, error) {
	var out []ArchiveMember
	err := walkArchive(r, name, func(string) bool { return true }, func(m ArchiveMember, _ io.Reader) error {
		out = append(out, m)
		return nil
	})
	return out, err
}

// ReadArchiveMember reads one member of a sysdump streamed from r; see
// Archive.Read. maxSize <= 0 means DefaultMaxMemberSize.
func ReadArchiveMember(r io.Reader, name, member string, maxSize int64) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMemberSize
	}
	return readMember(r, name, member, maxSize)
}

// errStop ends a walk early once the wanted member was read.
var errStop = errors.New("stop")

func readMember(r io.Reader, file, member string, maxSize int64) ([]byte, error) {
	parent, _ := SplitNested(member)
	var data []byte
	found := false
	err := walkArchive(r, file, func(p string) bool { return p == parent }, func(m ArchiveMember, content io.Reader) error {
		if m.Err != "" && parent != "" && (m.Path == parent || m.Parent == parent) {
			return fmt.Errorf("sysdump %s: cannot read %s: nested archive %s: %s", file, member, parent, m.Err)
		}
		if m.Path != member || content == nil {
			return nil
		}
		if m.Type != tar.TypeReg {
			return fmt.Errorf("sysdump %s: %s is not a regular file", file, member)
		}
		if m.Size > maxSize {
			return fmt.Errorf("sysdump %s: member %s is %d bytes, over the %d-byte cap; raise the cap to read it", file, member, m.Size, maxSize)
		}
		buf := make([]byte, m.Size)
		if _, err := io.ReadFull(content, buf); err != nil {
			return fmt.Errorf("sysdump %s: member %s: %s", file, member, archiveProblem(err, "reading it"))
		}
		data, found = buf, true
		return errStop
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("sysdump %s: %w: %s", file, ErrMemberNotFound, member)
	}
	return data, nil
}

// walkArchive streams the outer archive from r and calls fn per member.
// Nested archives are descended into when descend(path) is true.
func walkArchive(r io.Reader, file string, descend func(string) bool, fn func(ArchiveMember, io.Reader) error) error {
	zr, problem := openGzip(r)
	if problem != "" {
		return fmt.Errorf("sysdump %s: %s", file, problem)
	}
	defer zr.Close()
	zr.Multistream(false)
	tr := tar.NewReader(zr)
	last := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("sysdump %s: %s", file, tarProblem(err, last))
		}
		last = h.Name
		m := memberOf(h, "")
		if !isNestedArchive(h) || !descend(h.Name) {
			if err := fn(m, tr); err != nil {
				return err
			}
			continue
		}
		m.Nested = true
		if err := walkNested(tr, m, fn); err != nil {
			return err
		}
	}
	// Read to the gzip trailer so a truncated or corrupt tail is caught.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return fmt.Errorf("sysdump %s: %s", file, archiveProblem(err, "after the last member "+last))
	}
	return nil
}

// walkNested streams a nested archive read from tr: first its own entry
// m, then its members. Damage inside it does not stop the outer walk: if
// the nested archive cannot be opened, m is reported with Err set; if it
// breaks part-way, a final entry with an empty Name and Err set follows
// the members read so far. Only errors from fn are returned.
func walkNested(tr io.Reader, m ArchiveMember, fn func(ArchiveMember, io.Reader) error) error {
	zr, problem := openGzip(tr)
	if problem != "" {
		m.Err = problem
		return fn(m, nil)
	}
	defer zr.Close()
	zr.Multistream(false)
	if err := fn(m, nil); err != nil {
		return err
	}
	damaged := func(problem string) error {
		return fn(ArchiveMember{Path: NestedPath(m.Path, ""), Parent: m.Path, Nested: true, Err: problem}, nil)
	}
	inner := tar.NewReader(zr)
	last := ""
	for {
		h, err := inner.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return damaged(tarProblem(err, last))
		}
		last = h.Name
		if err := fn(memberOf(h, m.Path), inner); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return damaged(archiveProblem(err, "after the last member "+last))
	}
	return nil
}

func memberOf(h *tar.Header, parent string) ArchiveMember {
	m := ArchiveMember{Path: h.Name, Parent: parent, Name: h.Name, Size: h.Size, Mode: h.Mode, ModTime: h.ModTime, Type: h.Typeflag}
	if parent != "" {
		m.Path = NestedPath(parent, h.Name)
	}
	return m
}

// openGzip opens a gzip stream, or says in words why r is not one.
func openGzip(r io.Reader) (*gzip.Reader, string) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 32<<10)
	}
	if magic, _ := br.Peek(2); len(magic) > 0 && !bytes.HasPrefix([]byte{0x1f, 0x8b}, magic) {
		return nil, "not a gzip file: a sysdump is a .tar.gz"
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, gzipOpenProblem(err)
	}
	return zr, ""
}

func gzipOpenProblem(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "empty file: a sysdump is a non-empty .tar.gz"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated: the gzip header is incomplete"
	case errors.Is(err, gzip.ErrHeader):
		return "not a gzip file: a sysdump is a .tar.gz"
	}
	return "cannot read gzip header: " + err.Error()
}

func tarProblem(err error, last string) string {
	where := "before the first member"
	if last != "" {
		where = "after member " + last
	}
	switch {
	case errors.Is(err, tar.ErrHeader) && last == "":
		return "the gzip data is not a tar archive"
	case errors.Is(err, io.ErrUnexpectedEOF) && last == "":
		return "truncated, or the gzip data is not a tar archive"
	case errors.Is(err, tar.ErrHeader):
		return "corrupt tar header " + where
	}
	return archiveProblem(err, where)
}

func archiveProblem(err error, where string) string {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "truncated " + where + ": the download or copy did not finish"
	case errors.Is(err, gzip.ErrChecksum):
		return "corrupt (gzip checksum mismatch) " + where
	case errors.As(err, &corrupt):
		return "corrupt gzip data " + where
	case errors.Is(err, gzip.ErrHeader):
		return "corrupt gzip stream " + where
	}
	return err.Error() + " " + where
}

// Decoders for the well-known members, for callers holding bytes.

// DecodeOverview decodes cluster/overview.json.
func DecodeOverview(b []byte) (Overview, error) {
	var v Overview
	return v, health.DecodeStrict(b, &v, "nodes")
}

// DecodeManifest decodes the outer manifest.json.
func DecodeManifest(b []byte) (Manifest, error) {
	var v Manifest
	return v, health.DecodeStrict(b, &v, "generated_at")
}
