package remote

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A client that is gone by the time the bytes are verified (its end of the
// session's output closed, as after a kill) gets nothing installed, and
// the temporary file is removed; one that is there gets the file.
func TestUploadScriptNeedsTheClientToInstall(t *testing.T) {
	data := []byte("the release binary")
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	for _, gone := range []bool{true, false} {
		dir := t.TempDir()
		dest, tmp := filepath.Join(dir, "neuwerk.new"), filepath.Join(dir, ".neuwerk.new.nwroll-tmp-1")
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if gone {
			r.Close()
		}
		cmd := exec.Command("/bin/sh", "-c", uploadScript, "sh", tmp, dest, want, "755")
		cmd.Stdin, cmd.Stdout = bytes.NewReader(data), w
		err = cmd.Run()
		w.Close()
		_, destErr := os.Stat(dest)
		_, tmpErr := os.Stat(tmp)
		switch {
		case gone && (err == nil || destErr == nil || tmpErr == nil):
			t.Errorf("client gone: exit %v, installed %v, temp left %v", err, destErr == nil, tmpErr == nil)
		case !gone && (err != nil || destErr != nil || tmpErr == nil):
			t.Errorf("client there: exit %v, installed %v, temp left %v", err, destErr == nil, tmpErr == nil)
		}
		if !gone {
			r.Close()
		}
	}
}
