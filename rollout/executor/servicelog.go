package executor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nwroll/nwroll/rollout/remote"
)

// serviceLogTimeout bounds one read of a node's service log.
const serviceLogTimeout = 15 * time.Second

// ServiceLog is the last n lines of the node's service log, as
// `journalctl -u <unit> --no-pager -n <n>` prints them with the node's
// privileges. Read-only: the console's node detail and failure dialog show
// it.
func (x *Executor) ServiceLog(ctx context.Context, name string, n int) ([]string, error) {
	nd, err := x.node(name)
	if err != nil {
		return nil, err
	}
	unit := x.inv.Service.Unit
	if unit == "" {
		return nil, fmt.Errorf("service log of %s: the inventory names no service.unit", name)
	}
	argv := []string{"journalctl", "-u", unit, "--no-pager", "-n", strconv.Itoa(n)}
	out, err := x.run(ctx, nd, "service-log", remote.Privileged(nd, argv...), false, serviceLogTimeout)
	if err != nil {
		return nil, err
	}
	if out.Code != 0 {
		return nil, commandError(strings.Join(argv, " "), name, out)
	}
	text := strings.TrimRight(out.Stdout, "\n")
	if text == "" {
		return nil, nil
	}
	return strings.Split(text, "\n"), nil
}
