package style

import "testing"

func TestShortPath(t *testing.T) {
	for _, c := range []struct {
		in   string
		w    int
		want string
	}{
		{"/var/backups/neuwerk/fw-a.tar.gz", 40, "/var/backups/neuwerk/fw-a.tar.gz"},
		{"/tmp/demo/nodes/fw-a/var/backups/neuwerk/neuwerk-fw-a-f40309cb.tar.gz", 40, "…/neuwerk/neuwerk-fw-a-f40309cb.tar.gz"},
		{"nodes/7376112206261590366067/sysdump.tar.gz", 20, "…/sysdump.tar.gz"},
		{"a/averyveryverylongname.tar.gz", 10, "…/averyve…"},
	} {
		if got := ShortPath(c.in, c.w); got != c.want {
			t.Errorf("ShortPath(%q, %d) = %q, want %q", c.in, c.w, got, c.want)
		}
	}
	if got := ShortPaths("backup /tmp/demo/nodes/fw-a/var/backups/x.tar.gz (set f4)", 20); got != "backup …/backups/x.tar.gz (set f4)" {
		t.Errorf("ShortPaths: %q", got)
	}
}
