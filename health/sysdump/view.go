package sysdump

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nwroll/nwroll/health"
)

// Lazy reads for a sysdump viewer: the first members alone, the outer
// listing without opening nested archives, one nested archive's listing,
// and the first part of a member. Each streams the file and stops as soon
// as it has what it needs.

// Head holds the well-known JSON members a cluster sysdump writes
// first. A nil field was absent (a per-node sysdump has none of them);
// Problems names members that were present but did not decode.
type Head struct {
	Manifest   *Manifest
	Overview   *Overview
	Failures   *Failures
	Membership *Membership
	Problems   []string
}

// headMemberCap bounds each well-known member read by Head.
const headMemberCap = 16 << 20

// Head reads manifest.json, cluster/overview.json, cluster/failures.json
// and cluster/membership.json, stopping at the first other member; Neuwerk
// writes these four first, so the rest of the file is never read.
func (a *Archive) Head() (Head, error) {
	var h Head
	err := a.withFile(func(r io.Reader) error {
		return walkArchive(r, a.Path, func(string) bool { return false }, func(m ArchiveMember, content io.Reader) error {
			var dst any
			var required string
			switch m.Path {
			case ManifestPath:
				v := new(Manifest)
				h.Manifest, dst, required = v, v, "generated_at"
			case OverviewPath:
				v := new(Overview)
				h.Overview, dst, required = v, v, "nodes"
			case FailuresPath:
				v := new(Failures)
				h.Failures, dst, required = v, v, "failures"
			case MembershipPath:
				v := new(Membership)
				h.Membership, dst, required = v, v, "nodes"
			default:
				return errStop
			}
			if m.Size > headMemberCap {
				h.Problems = append(h.Problems, fmt.Sprintf("%s is %d bytes, over the %d-byte cap", m.Path, m.Size, headMemberCap))
				clearHeadField(&h, m.Path)
				return nil
			}
			buf := make([]byte, m.Size)
			if _, err := io.ReadFull(content, buf); err != nil {
				return fmt.Errorf("sysdump %s: member %s: %s", a.Path, m.Path, archiveProblem(err, "reading it"))
			}
			if err := health.DecodeStrict(buf, dst, required); err != nil {
				h.Problems = append(h.Problems, m.Path+": "+err.Error())
				clearHeadField(&h, m.Path)
			}
			return nil
		})
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return h, err
}

func clearHeadField(h *Head, path string) {
	switch path {
	case ManifestPath:
		h.Manifest = nil
	case OverviewPath:
		h.Overview = nil
	case FailuresPath:
		h.Failures = nil
	case MembershipPath:
		h.Membership = nil
	}
}

// ListOuter lists the outer members only, in archive order, without
// opening nested archives; those are marked Nested (their Err is not
// known until ListNested opens them).
func (a *Archive) ListOuter() ([]ArchiveMember, error) {
	out, _, err := a.ListOuterMetas()
	return out, err
}

// metaMemberCap bounds a nodes/<id>/meta.json read by ListOuterMetas.
const metaMemberCap = 1 << 20

// ListOuterMetas is ListOuter, also decoding each nodes/<id>/meta.json on
// the way (keyed by the <id> of its path), so a viewer can name the nodes
// without a second pass. A meta.json that does not decode is left out.
func (a *Archive) ListOuterMetas() ([]ArchiveMember, map[string]NodeMeta, error) {
	var out []ArchiveMember
	metas := map[string]NodeMeta{}
	err := a.withFile(func(r io.Reader) error {
		return walkArchive(r, a.Path, func(string) bool { return false }, func(m ArchiveMember, content io.Reader) error {
			m.Nested = isNestedName(m)
			out = append(out, m)
			if id, ok := nodeMetaID(m.Path); ok && content != nil && m.Err == "" && m.Size <= metaMemberCap {
				var meta NodeMeta
				if data, err := io.ReadAll(io.LimitReader(content, metaMemberCap)); err == nil && json.Unmarshal(data, &meta) == nil {
					metas[id] = meta
				}
			}
			return nil
		})
	})
	return out, metas, err
}

// nodeMetaID is the <id> of nodes/<id>/meta.json.
func nodeMetaID(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "nodes/")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "/meta.json")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// ListNested lists the members of one nested archive, such as
// nodes/<id>/sysdump.tar.gz. Damage is reported as List does: the
// archive's own entry with Err set (first in the result) when it cannot be
// opened, or a final entry with an empty Name and Err set.
func (a *Archive) ListNested(parent string) ([]ArchiveMember, error) {
	var out []ArchiveMember
	found := false
	err := a.withFile(func(r io.Reader) error {
		return walkArchive(r, a.Path, func(p string) bool { return p == parent }, func(m ArchiveMember, _ io.Reader) error {
			switch {
			case m.Path == parent:
				found = true
				if !m.Nested {
					return fmt.Errorf("sysdump %s: %s is not a nested archive", a.Path, parent)
				}
				if m.Err != "" {
					out = append(out, m)
				}
			case m.Parent == parent:
				out = append(out, m)
			case found:
				return errStop
			}
			return nil
		})
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	if err == nil && !found {
		err = fmt.Errorf("sysdump %s: %w: %s", a.Path, ErrMemberNotFound, parent)
	}
	return out, err
}

// ReadPrefix returns at most limit bytes from the start of a member, outer
// or nested, and the member's full size; it never refuses a big member.
func (a *Archive) ReadPrefix(member string, limit int64) (data []byte, size int64, err error) {
	parent, _ := SplitNested(member)
	found := false
	err = a.withFile(func(r io.Reader) error {
		return walkArchive(r, a.Path, func(p string) bool { return p == parent }, func(m ArchiveMember, content io.Reader) error {
			if m.Err != "" && parent != "" && (m.Path == parent || m.Parent == parent) {
				return fmt.Errorf("sysdump %s: cannot read %s: nested archive %s: %s", a.Path, member, parent, m.Err)
			}
			if m.Path != member || content == nil {
				return nil
			}
			if m.Type != tar.TypeReg {
				return fmt.Errorf("sysdump %s: %s is not a regular file", a.Path, member)
			}
			n := min(m.Size, max(limit, 0))
			buf := make([]byte, n)
			if _, err := io.ReadFull(content, buf); err != nil {
				return fmt.Errorf("sysdump %s: member %s: %s", a.Path, member, archiveProblem(err, "reading it"))
			}
			data, size, found = buf, m.Size, true
			return errStop
		})
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	if err == nil && !found {
		err = fmt.Errorf("sysdump %s: %w: %s", a.Path, ErrMemberNotFound, member)
	}
	if err != nil {
		return nil, 0, err
	}
	return data, size, nil
}

func isNestedName(m ArchiveMember) bool {
	return isNestedArchive(&tar.Header{Name: m.Name, Typeflag: m.Type})
}
