package runbook

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The runbook is the pure core (design §2): it performs no I/O, so it may
// import only the standard library's pure packages and the module's pure
// health and cloud (the provider's types and interface; its
// implementations live in cloud/aws and below), and none of them may
// import SSH, HTTP, exec or the file system. (A
// library health uses may import more for features it does not call:
// expfmt's HTTP content negotiation, uuid's MAC lookup; so the transitive
// check below is for what nothing in the core should ever pull in.)
func TestRunbookImportsNoIO(t *testing.T) {
	const module = "github.com/nwroll/nwroll/"
	pure := []string{"errors", "fmt", "io", "maps", "math", "math/big", "slices", "sort", "strconv", "strings", "time"}
	allowedInternal := []string{module + "health", module + "cloud"}
	forbidden := []string{"os", "os/exec", "io/fs", "path/filepath", "net", "net/http", "crypto/tls", "syscall",
		"golang.org/x/crypto/ssh", "github.com/pkg/sftp", "charm.land/"}

	imports := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	direct := imports(module + "rollout/runbook")
	if !slices.Contains(direct, module+"health") {
		t.Fatalf("go list did not show runbook's imports: %v", direct)
	}
	for _, imp := range direct {
		if !slices.Contains(pure, imp) && !slices.Contains(allowedInternal, imp) {
			t.Errorf("rollout/runbook imports %s: the pure core imports only %v and %v", imp, pure, allowedInternal)
		}
	}
	out, err := exec.Command("go", "list", "-deps", module+"rollout/runbook").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		never := dep == "os/exec" || strings.HasPrefix(dep, "golang.org/x/crypto/ssh") || strings.HasPrefix(dep, "github.com/pkg/sftp") ||
			strings.HasPrefix(dep, "charm.land/") || strings.HasPrefix(dep, module) && dep != module+"rollout/runbook" && !slices.Contains(allowedInternal, dep)
		if never {
			t.Errorf("rollout/runbook depends on %s", dep)
		}
	}
	for _, pkg := range allowedInternal {
		for _, imp := range imports(pkg) {
			for _, f := range forbidden {
				if imp == f || strings.HasSuffix(f, "/") && strings.HasPrefix(imp, f) {
					t.Errorf("%s (imported by the runbook) imports %s", pkg, imp)
				}
			}
			if strings.HasPrefix(imp, module) && !slices.Contains(allowedInternal, imp) {
				t.Errorf("%s (imported by the runbook) imports %s", pkg, imp)
			}
		}
	}
}
