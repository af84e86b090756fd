package executor

import (
	"bufio"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
)

// The node-side work on backup sets (see the journal's backupset.go): POSIX
// sh commands that create, verify and restore a node's archive and keep the
// set's copy on the node. The executor runs them with the privileges the
// data root needs (sudo).

// Exit statuses of the backup commands.
const (
	BackupMismatchExitCode = 65 // an archive's sha256 is not the one recorded, or it holds foreign members
	BackupMissingExitCode  = 66 // the data root or the archive is missing
	BackupExistsExitCode   = 73 // the archive (or the aside copy of the data root) already exists
)

// BackupManifestPath is <backupDir>/<set id>.json, the set's copy on a node.
func BackupManifestPath(backupDir, setID string) string {
	return path.Join(backupDir, setID+".json")
}

// BackupSetRestoreCommand is BackupRestoreCommand for node from set s,
// checking s.RestoreSource and that the node's data root is the one the
// archive was taken from. The current data root is kept aside as
// <data root>.pre-restore-<UTC ts>.
func BackupSetRestoreCommand(s journal.BackupSet, cluster, node, dataRoot string, now time.Time) (string, error) {
	archive, sha, err := s.RestoreSource(cluster, node)
	if err != nil {
		return "", err
	}
	n, _ := s.Node(node)
	if n.DataRoot != "" && path.Clean(n.DataRoot) != path.Clean(dataRoot) {
		return "", fmt.Errorf("backup set %s: node %s was backed up from data root %s, but its data root is now %s; restore by hand if that is intended",
			s.ID, node, n.DataRoot, dataRoot)
	}
	aside := path.Clean(dataRoot) + ".pre-restore-" + now.UTC().Format("20060102T150405Z")
	return BackupRestoreCommand(archive, sha, dataRoot, aside), nil
}

// BackupCreateCommand tars dataRoot into archive (tar -C <parent> -czf
// <archive>.partial <base>), makes it 0600, hashes it, fsyncs it and renames
// it into place, printing "nwroll-backup: sha256=<hex> size=<bytes>" (see
// ParseBackupOutput). It never overwrites an archive. For a live backup GNU
// tar's exit status 1 (a file changed while it was read) is accepted with a
// warning on stderr; otherwise (quiesced: the caller stopped the service
// first) any tar failure fails the backup.
func BackupCreateCommand(dataRoot, archive string, live bool) string {
	root := path.Clean(dataRoot)
	tarFail := `rm -f -- "$tmp"; echo "nwroll: tar of $root failed (exit $rc)" >&2; exit "$rc"`
	onTar := `if [ "$rc" -ne 0 ]; then ` + tarFail + `; fi`
	if live {
		onTar = `if [ "$rc" -eq 1 ]; then echo "nwroll: warning: files changed while tar read them (live backup)" >&2; ` +
			`elif [ "$rc" -ne 0 ]; then ` + tarFail + `; fi`
	}
	return strings.Join([]string{
		"umask 077",
		"root=" + lockQuote(root) + "; parent=" + lockQuote(path.Dir(root)) + "; base=" + lockQuote(path.Base(root)),
		"arc=" + lockQuote(archive) + "; tmp=" + lockQuote(archive+".partial") + "; dir=" + lockQuote(path.Dir(archive)),
		`if [ ! -d "$root" ]; then echo "nwroll: data root $root is not a directory" >&2; exit ` + strconv.Itoa(BackupMissingExitCode) + `; fi`,
		`if [ -e "$arc" ]; then echo "nwroll: $arc already exists; a backup is never overwritten" >&2; exit ` + strconv.Itoa(BackupExistsExitCode) + `; fi`,
		`mkdir -p -- "$dir" || exit 1`,
		`rm -f -- "$tmp"`,
		`tar --numeric-owner -C "$parent" -czf "$tmp" -- "$base"; rc=$?`,
		onTar,
		`chmod 600 -- "$tmp" || { rm -f -- "$tmp"; exit 1; }`,
		`sum=$(sha256sum < "$tmp") || { rm -f -- "$tmp"; exit 1; }`,
		`sum=${sum%% *}`,
		`size=$(wc -c < "$tmp" | tr -d ' ')`,
		`sync -- "$tmp" 2>/dev/null || sync`,
		`mv -f -- "$tmp" "$arc" || { rm -f -- "$tmp"; exit 1; }`,
		`sync -- "$dir" 2>/dev/null || sync`,
		`printf 'nwroll-backup: sha256=%s size=%s\n' "$sum" "$size"`,
	}, "\n")
}

// BackupVerifyCommand hashes archive on the node and prints
// "nwroll-backup: sha256=<hex> size=<bytes>". It exits
// BackupMismatchExitCode if the sha256 is not wantSHA, and
// BackupMissingExitCode if the archive is gone.
func BackupVerifyCommand(archive, wantSHA string) string {
	return strings.Join([]string{
		"arc=" + lockQuote(archive) + "; want=" + lockQuote(strings.ToLower(wantSHA)),
		`if [ ! -f "$arc" ]; then echo "nwroll: backup archive $arc is missing" >&2; exit ` + strconv.Itoa(BackupMissingExitCode) + `; fi`,
		`sum=$(sha256sum < "$arc") || exit 1`,
		`sum=${sum%% *}`,
		`size=$(wc -c < "$arc" | tr -d ' ')`,
		`printf 'nwroll-backup: sha256=%s size=%s\n' "$sum" "$size"`,
		`if [ "$sum" != "$want" ]; then echo "nwroll: backup archive $arc has sha256 $sum, but its backup set records $want; it was altered or damaged" >&2; exit ` + strconv.Itoa(BackupMismatchExitCode) + `; fi`,
	}, "\n")
}

// BackupRestoreCommand restores dataRoot from archive on a stopped node:
// it checks the archive's sha256 is wantSHA and that every member lies
// under the data root's base name, moves the current data root aside to
// aside, and extracts with owners and modes kept. If the extract fails the
// previous data root is put back. It prints
// "nwroll-restore: restored <root> from <archive>; previous data root kept at <aside>".
// Use BackupSetRestoreCommand, which picks the archive safely.
func BackupRestoreCommand(archive, wantSHA, dataRoot, aside string) string {
	root := path.Clean(dataRoot)
	base := path.Base(root)
	qb := lockQuote(base)
	return strings.Join([]string{
		"umask 077",
		"arc=" + lockQuote(archive) + "; want=" + lockQuote(strings.ToLower(wantSHA)),
		"root=" + lockQuote(root) + "; parent=" + lockQuote(path.Dir(root)) + "; base=" + qb + "; aside=" + lockQuote(aside),
		`if [ ! -f "$arc" ]; then echo "nwroll: backup archive $arc is missing" >&2; exit ` + strconv.Itoa(BackupMissingExitCode) + `; fi`,
		`sum=$(sha256sum < "$arc") || exit 1`,
		`sum=${sum%% *}`,
		`if [ "$sum" != "$want" ]; then echo "nwroll: backup archive $arc has sha256 $sum, but its backup set records $want; refusing to restore" >&2; exit ` + strconv.Itoa(BackupMismatchExitCode) + `; fi`,
		`list=$(tar -tzf "$arc") || { echo "nwroll: $arc is not a readable .tar.gz; refusing to restore" >&2; exit ` + strconv.Itoa(BackupMismatchExitCode) + `; }`,
		`printf '%s\n' "$list" | ( while IFS= read -r m; do case $m in ` + qb + `|` + qb + `/*|./` + qb + `|./` + qb + `/*) ;; ` +
			`*) printf 'nwroll: archive member %s is outside %s; refusing to restore\n' "$m" "$base" >&2; exit ` + strconv.Itoa(BackupMismatchExitCode) + `;; esac; done ) || exit ` + strconv.Itoa(BackupMismatchExitCode),
		`if [ -e "$aside" ]; then echo "nwroll: $aside already exists; move it away first" >&2; exit ` + strconv.Itoa(BackupExistsExitCode) + `; fi`,
		`if [ -e "$root" ]; then mv -- "$root" "$aside" || exit 1; fi`,
		`tar --numeric-owner -C "$parent" -xpzf "$arc"; rc=$?`,
		`if [ "$rc" -ne 0 ]; then rm -rf -- "$root"; if [ -e "$aside" ]; then mv -- "$aside" "$root"; fi; echo "nwroll: extracting $arc failed (exit $rc); the previous data root is back in place" >&2; exit "$rc"; fi`,
		`sync`,
		`printf 'nwroll-restore: restored %s from %s; previous data root kept at %s\n' "$root" "$arc" "$aside"`,
	}, "\n")
}

// BackupManifestWriteCommand writes the set to <backupDir>/<set id>.json on
// the node (mode 0600, by rename).
func BackupManifestWriteCommand(backupDir string, s journal.BackupSet) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	f := BackupManifestPath(backupDir, s.ID)
	return strings.Join([]string{
		"umask 077",
		"dir=" + lockQuote(backupDir) + "; f=" + lockQuote(f) + "; tmp=" + lockQuote(f+".partial"),
		`mkdir -p -- "$dir" || exit 1`,
		"{ printf '%s\\n' " + lockQuote(string(b)) + ` > "$tmp" && chmod 600 -- "$tmp" && mv -f -- "$tmp" "$f"; } || { rm -f -- "$tmp"; exit 1; }`,
	}, "\n"), nil
}

// ParseBackupOutput reads the "nwroll-backup: sha256=<hex> size=<bytes>"
// line BackupCreateCommand and BackupVerifyCommand print.
func ParseBackupOutput(out string) (sha string, size int64, err error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(l, "nwroll-backup: ")
		if !ok {
			continue
		}
		var shaOK, sizeOK bool
		for _, f := range strings.Fields(rest) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "sha256":
				sha, shaOK = release.NormSHA(v)
			case "size":
				n, err := strconv.ParseInt(v, 10, 64)
				size, sizeOK = n, err == nil && n >= 0
			}
		}
		if !shaOK || !sizeOK {
			return "", 0, fmt.Errorf("malformed backup report %q", release.Clip(l))
		}
		return sha, size, nil
	}
	return "", 0, fmt.Errorf("no backup report in the command's output %q", release.Clip(strings.TrimSpace(out)))
}
