package inventory

import (
	"bytes"
	"os"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// sshConfig is a parsed ssh_config file. Only HostName, User, Port,
// IdentityFile and ProxyJump are read (the inventory documents this).
type sshConfig struct {
	path string
	cfg  *ssh_config.Config
}

func loadSSHConfig(path string) (*sshConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ssh_config.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return &sshConfig{path: path, cfg: cfg}, nil
}

// get is the first value of key for host, "" when none (or no config).
func (s *sshConfig) get(host, key string) string {
	if s == nil {
		return ""
	}
	v, err := s.cfg.Get(host, key)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(v)
}

// getAll is every value of key for host, in file order.
func (s *sshConfig) getAll(host, key string) []string {
	if s == nil {
		return nil
	}
	v, err := s.cfg.GetAll(host, key)
	if err != nil {
		return nil
	}
	return v
}

// expandTokens expands the ssh_config(5) tokens nwroll can know: %% %h %n
// %r %u %d %p, and a leading ~.
func (e *env) expandTokens(s, alias, host, remoteUser string, port string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case 'h':
			b.WriteString(host)
		case 'n':
			b.WriteString(alias)
		case 'r':
			b.WriteString(remoteUser)
		case 'u':
			b.WriteString(e.localUser)
		case 'd':
			b.WriteString(e.home)
		case 'p':
			b.WriteString(port)
		default:
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return e.expandHome(b.String())
}
