package node

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Log lines go to one writer in a journal-like plain format:
//
//	2026-04-04T10:15:30.412873Z [INFO]  neuwerk: cluster leader elected: leader=...
//
// Raft's own logger shares the writer but only reports warnings and errors.
// Tokens are never logged.
type loggers struct {
	main hclog.Logger
	raft hclog.Logger
}

const logTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

func newLoggers(w io.Writer) loggers {
	if w == nil {
		w = os.Stderr
	}
	mu := new(sync.Mutex)
	opts := func(name string, level hclog.Level) *hclog.LoggerOptions {
		return &hclog.LoggerOptions{
			Name:       name,
			Level:      level,
			Output:     w,
			Mutex:      mu,
			TimeFormat: logTimeFormat,
			TimeFn:     func() time.Time { return time.Now().UTC() },
			Color:      hclog.ColorOff,
		}
	}
	level := hclog.Info
	if env := os.Getenv("NEUWERK_LOG_LEVEL"); env != "" {
		if l := hclog.LevelFromString(env); l != hclog.NoLevel {
			level = l
		}
	}
	raftLevel := hclog.Warn
	if level < raftLevel && level <= hclog.Debug {
		raftLevel = level
	}
	return loggers{main: hclog.New(opts("neuwerk", level)), raft: hclog.New(opts("raft", raftLevel))}
}
