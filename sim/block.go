package sim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Address blocks: every cluster takes one free 127.0.N.0/24.
const (
	firstBlock = 2
	lastBlock  = 249 // 250..253 are reserved for sim/node's own tests
	nodeBase   = 10  // node i (1-based) is 127.0.N.(10+i)
	maxNodes   = 25
)

// The real Neuwerk ports (facts §12), the same on every node.
const (
	PortHTTPS   = 8443
	PortMetrics = 8080
	PortRaft    = 9600
	PortJoin    = 9601
	PortSSH     = 2222
)

var nodePorts = []int{PortHTTPS, PortMetrics, PortRaft, PortJoin, PortSSH}

// nodeIP is node i's (1-based) address in block n.
func nodeIP(block, i int) string { return fmt.Sprintf("127.0.%d.%d", block, nodeBase+i) }

// nodeName is node i's (1-based) name: fw-a, fw-b, ..., fw-y.
func nodeName(i int) string { return "fw-" + string(rune('a'+i-1)) }

// blockLockDir holds one lock file per block, shared by every cluster on the machine.
func blockLockDir() string { return filepath.Join(os.TempDir(), "nwroll-sim-blocks") }

func blockLockPath(n int) string { return filepath.Join(blockLockDir(), strconv.Itoa(n)+".lock") }

// blockLock is an flock held on a block's lock file. The lock belongs to the
// open file description, so handing the file to the supervisor (ExtraFiles)
// hands over the lock; it is released when the last holder closes it or dies.
type blockLock struct {
	n    int
	file *os.File
}

// tryLockBlock takes block n's lock without waiting; ok is false when another
// cluster holds it.
func tryLockBlock(n int) (*blockLock, bool, error) {
	if err := os.MkdirAll(blockLockDir(), 0o777); err != nil {
		return nil, false, err
	}
	// The directory is shared between users; make sure it stays usable.
	_ = os.Chmod(blockLockDir(), 0o777|os.ModeSticky)
	f, err := os.OpenFile(blockLockPath(n), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", blockLockPath(n), err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &blockLock{n: n, file: f}, true, nil
}

// Close releases this holder's reference to the lock.
func (l *blockLock) Close() error {
	if l == nil || l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}

// portsFree reports whether every node port of the first `nodes` addresses
// of block n can be bound right now.
func portsFree(block, nodes int) error {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for i := 1; i <= nodes; i++ {
		for _, p := range nodePorts {
			addr := net.JoinHostPort(nodeIP(block, i), strconv.Itoa(p))
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("%s is in use: %w", addr, err)
			}
			held = append(held, l)
		}
	}
	return nil
}

// acquireBlock finds a free block: its lock is free and its ports can be bound.
func acquireBlock(nodes int) (*blockLock, error) {
	var lastErr error
	for n := firstBlock; n <= lastBlock; n++ {
		l, ok, err := tryLockBlock(n)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if err := portsFree(n, nodes); err != nil {
			lastErr = err
			l.Close()
			continue
		}
		return l, nil
	}
	if lastErr != nil {
		return nil, fmt.Errorf("no free address block 127.0.N.0/24 (N in %d..%d); last tried: %v", firstBlock, lastBlock, lastErr)
	}
	return nil, fmt.Errorf("no free address block 127.0.N.0/24 (N in %d..%d): every lock in %s is held; run 'nwroll sim down' on clusters you no longer need", firstBlock, lastBlock, blockLockDir())
}
