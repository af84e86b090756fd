package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/release"
)

// A backup set (design §3 "Back up", facts §6) is one archive of the data
// root per node, all taken in one run, with what the restore needs to
// refuse the wrong archive: node name and node_id, the release and binary
// sha the node ran, and the archive's sha256. Neuwerk's own guide warns
// never to mix backups across clusters or backup points, so a restore takes
// one node's own archive from one set (RestoreSource).
//
// The set is kept twice: on each node as <backup_dir>/<set id>.json and
// locally as $XDG_STATE_HOME/nwroll/<cluster>/backups/<set id>.json. The
// node-side work is done by the POSIX sh commands the executor builds
// (backupcmd.go there) and runs with the privileges the data root needs
// (sudo).

// BackupArchive is one node's archive in a set.
type BackupArchive struct {
	Node         string    `json:"node"`
	NodeUUID     string    `json:"node_uuid"`     // <data_root>/node_id
	NodeID       string    `json:"node_id"`       // the same as the API's decimal
	Release      string    `json:"release"`       // the release the node ran
	BinarySHA256 string    `json:"binary_sha256"` // the sha256 of the binary it ran
	DataRoot     string    `json:"data_root"`
	Archive      string    `json:"archive"` // <backup_dir>/neuwerk-<node>-<set id>-<UTC ts>.tar.gz
	SHA256       string    `json:"sha256"`  // of the archive
	Size         int64     `json:"size"`
	Mode         string    `json:"mode"` // "quiesced" (service stopped) or "live" (BackupMode.String())
	CreatedAt    time.Time `json:"created_at"`
}

// BackupSet is the set's manifest.
type BackupSet struct {
	ID        string          `json:"id"`
	Cluster   string          `json:"cluster"`
	RunID     string          `json:"run_id,omitempty"`
	CreatedBy string          `json:"created_by,omitempty"` // user@host
	CreatedAt time.Time       `json:"created_at"`
	Nodes     []BackupArchive `json:"nodes"`
}

var backupIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// NewBackupSetID returns a fresh set id: 8 random hex digits.
func NewBackupSetID() (string, error) { return NewRunID() }

// FileSafe makes a node name usable in a file name.
func FileSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	out := string(b)
	if out == "" || out[0] == '.' || out[0] == '-' {
		out = "_" + out
	}
	return out
}

// BackupArchivePath is <backupDir>/neuwerk-<node>-<set id>-<UTC ts>.tar.gz.
func BackupArchivePath(backupDir, node, setID string, at time.Time) string {
	return path.Join(backupDir, fmt.Sprintf("neuwerk-%s-%s-%s.tar.gz", FileSafe(node), setID, at.UTC().Format("20060102T150405Z")))
}

// backupArchivePrefix is what the name of node's archive in set setID starts with.
func backupArchivePrefix(node, setID string) string {
	return fmt.Sprintf("neuwerk-%s-%s-", FileSafe(node), setID)
}

// Node returns the set's record for node.
func (s BackupSet) Node(node string) (BackupArchive, bool) {
	for _, n := range s.Nodes {
		if n.Node == node {
			return n, true
		}
	}
	return BackupArchive{}, false
}

// Put adds n to the set, replacing an earlier record for the same node.
func (s *BackupSet) Put(n BackupArchive) {
	for i := range s.Nodes {
		if s.Nodes[i].Node == n.Node {
			s.Nodes[i] = n
			return
		}
	}
	s.Nodes = append(s.Nodes, n)
}

// Validate checks the set is self-consistent: a usable id and cluster, and
// per node a unique name, an absolute archive named for this node and set,
// a sha256, a size, and a node_id that is the UUID's decimal.
func (s BackupSet) Validate() error {
	if !backupIDRe.MatchString(s.ID) {
		return fmt.Errorf("backup set id %q is not usable (letters, digits, '-' and '_')", s.ID)
	}
	if s.Cluster == "" {
		return fmt.Errorf("backup set %s names no cluster", s.ID)
	}
	seen := map[string]bool{}
	for _, n := range s.Nodes {
		if n.Node == "" {
			return fmt.Errorf("backup set %s has a record with no node name", s.ID)
		}
		if seen[n.Node] {
			return fmt.Errorf("backup set %s lists node %s twice", s.ID, n.Node)
		}
		seen[n.Node] = true
		if !path.IsAbs(n.Archive) {
			return fmt.Errorf("backup set %s: node %s: archive %q is not an absolute path", s.ID, n.Node, n.Archive)
		}
		if !strings.HasPrefix(path.Base(n.Archive), backupArchivePrefix(n.Node, s.ID)) {
			return fmt.Errorf("backup set %s: node %s: archive %s is not this node's archive from this set (its name must start with %s)",
				s.ID, n.Node, n.Archive, backupArchivePrefix(n.Node, s.ID))
		}
		if _, ok := release.NormSHA(n.SHA256); !ok || n.SHA256 != strings.ToLower(n.SHA256) {
			return fmt.Errorf("backup set %s: node %s: archive sha256 %q is not 64 lower-case hex digits", s.ID, n.Node, n.SHA256)
		}
		if n.Size <= 0 {
			return fmt.Errorf("backup set %s: node %s: archive size %d is not positive", s.ID, n.Node, n.Size)
		}
		if n.NodeUUID != "" {
			dec, err := health.NodeIDFromUUID(n.NodeUUID)
			if err != nil {
				return fmt.Errorf("backup set %s: node %s: %v", s.ID, n.Node, err)
			}
			if n.NodeID != "" && n.NodeID != dec {
				return fmt.Errorf("backup set %s: node %s: node_id %s is not the decimal of node_uuid %s (%s)", s.ID, n.Node, n.NodeID, n.NodeUUID, dec)
			}
		}
		if n.DataRoot != "" && !path.IsAbs(n.DataRoot) {
			return fmt.Errorf("backup set %s: node %s: data root %q is not absolute", s.ID, n.Node, n.DataRoot)
		}
	}
	return nil
}

// ParseBackupSet decodes and validates a set manifest.
func ParseBackupSet(b []byte) (BackupSet, error) {
	var s BackupSet
	if err := json.Unmarshal(b, &s); err != nil {
		return BackupSet{}, fmt.Errorf("not a backup set manifest: %v", err)
	}
	if err := s.Validate(); err != nil {
		return BackupSet{}, err
	}
	return s, nil
}

// RestoreSource is the one archive node may be restored from: its own, from
// this set. It refuses a set from another cluster, a node the set does not
// hold, and a record whose archive is not the node's own from this set.
func (s BackupSet) RestoreSource(cluster, node string) (archive, sha string, err error) {
	if s.Cluster != cluster {
		return "", "", fmt.Errorf("backup set %s belongs to cluster %q, not %q: backups are never mixed across clusters; pick a set of %s",
			s.ID, s.Cluster, cluster, cluster)
	}
	n, ok := s.Node(node)
	if !ok {
		return "", "", fmt.Errorf("backup set %s holds no archive of node %s (it holds %s): a node is restored only from its own archive, never another node's or another set's",
			s.ID, node, strings.Join(s.NodeNames(), ", "))
	}
	if err := (BackupSet{ID: s.ID, Cluster: s.Cluster, Nodes: []BackupArchive{n}}).Validate(); err != nil {
		return "", "", fmt.Errorf("%v: refusing to restore from it", err)
	}
	return n.Archive, n.SHA256, nil
}

// NodeNames lists the set's nodes in its order.
func (s BackupSet) NodeNames() []string {
	out := make([]string, len(s.Nodes))
	for i, n := range s.Nodes {
		out[i] = n.Node
	}
	return out
}

// oldest is the time of the set's oldest archive (or the set's own time).
func (s BackupSet) oldest() time.Time {
	t := s.CreatedAt
	for _, n := range s.Nodes {
		if !n.CreatedAt.IsZero() && (t.IsZero() || n.CreatedAt.Before(t)) {
			t = n.CreatedAt
		}
	}
	return t
}

// CheckReusable says why the set cannot stand in for a fresh backup of
// nodes of cluster (--backup-reuse), or nil if it can: it must be valid, of
// this cluster, hold exactly these nodes, and be no older than maxAge. The
// archives still have to be checked on the nodes (BackupVerifyCommand).
func (s BackupSet) CheckReusable(cluster string, nodes []string, maxAge time.Duration, now time.Time) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Cluster != cluster {
		return fmt.Errorf("backup set %s belongs to cluster %q, not %q", s.ID, s.Cluster, cluster)
	}
	var missing, extra []string
	for _, n := range nodes {
		if _, ok := s.Node(n); !ok {
			missing = append(missing, n)
		}
	}
	for _, n := range s.Nodes {
		if !slices.Contains(nodes, n.Node) {
			extra = append(extra, n.Node)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("backup set %s has no archive of %s", s.ID, strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		return fmt.Errorf("backup set %s also holds %s, which the inventory does not: the cluster has changed since", s.ID, strings.Join(extra, ", "))
	}
	if maxAge > 0 {
		if age := now.Sub(s.oldest()); age > maxAge {
			return fmt.Errorf("backup set %s is %s old, older than %s", s.ID, age.Round(time.Minute), maxAge)
		}
	}
	return nil
}

// ChooseReusableSet picks the newest set that CheckReusable accepts, or
// says why none fits.
func ChooseReusableSet(sets []BackupSet, cluster string, nodes []string, maxAge time.Duration, now time.Time) (*BackupSet, error) {
	ordered := slices.Clone(sets)
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].oldest().After(ordered[j].oldest()) })
	var why []string
	for i := range ordered {
		err := ordered[i].CheckReusable(cluster, nodes, maxAge, now)
		if err == nil {
			s := ordered[i]
			return &s, nil
		}
		if len(why) < 3 {
			why = append(why, err.Error())
		}
	}
	if len(why) == 0 {
		return nil, fmt.Errorf("no backup set of cluster %s to reuse; take a fresh backup", cluster)
	}
	return nil, fmt.Errorf("no backup set of cluster %s can be reused (%s); take a fresh backup", cluster, strings.Join(why, "; "))
}

// FindBackupSet returns the set with id.
func FindBackupSet(sets []BackupSet, id string) (*BackupSet, bool) {
	for i := range sets {
		if sets[i].ID == id {
			s := sets[i]
			return &s, true
		}
	}
	return nil, false
}

// BackupStateDir is stateDir/<cluster>/backups, where sets are kept locally.
func BackupStateDir(stateDir, cluster string) (string, error) {
	d, err := ClusterStateDir(stateDir, cluster)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "backups"), nil
}

// SaveBackupSet writes s to stateDir/<cluster>/backups/<id>.json (mode
// 0600, directories 0700, fsync'd) and returns the path.
func SaveBackupSet(stateDir string, s BackupSet) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	dir, err := BackupStateDir(stateDir, s.Cluster)
	if err != nil {
		return "", err
	}
	if err := Mkdir(filepath.Dir(dir)); err != nil {
		return "", err
	}
	if err := Mkdir(dir); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, s.ID+".json")
	if err := WriteAtomic(p, append(b, '\n')); err != nil {
		return "", fmt.Errorf("save backup set %s: %w", s.ID, err)
	}
	return p, nil
}

// LoadBackupSets reads the cluster's local sets, newest first. Files that
// are not valid sets of this cluster are skipped with a warning.
func LoadBackupSets(stateDir, cluster string) ([]BackupSet, []string, error) {
	dir, err := BackupStateDir(stateDir, cluster)
	if err != nil {
		return nil, nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var (
		sets     []BackupSet
		warnings []string
	)
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("skipped %s: %v", p, err))
			continue
		}
		s, err := ParseBackupSet(b)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("skipped %s: %v", p, err))
			continue
		}
		if s.Cluster != cluster || s.ID+".json" != e.Name() {
			warnings = append(warnings, fmt.Sprintf("skipped %s: it holds set %s of cluster %s", p, s.ID, s.Cluster))
			continue
		}
		sets = append(sets, s)
	}
	sort.SliceStable(sets, func(i, j int) bool { return sets[i].oldest().After(sets[j].oldest()) })
	return sets, warnings, nil
}
