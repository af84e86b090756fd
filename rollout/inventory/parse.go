package inventory

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// field is one value from the file: whether it was set, and where.
type field[T any] struct {
	v    T
	set  bool
	line int
}

type rawPaths struct {
	binary, dataRoot, backupDir field[string]
}

type rawNode struct {
	line                                int
	label                               string // "node fw-b" or "node #2"
	name, host, user, apiHost, jumpHost field[string]
	sshPort                             field[int]
	paths                               rawPaths
}

type rawInventory struct {
	cluster field[string]
	ssh     struct {
		line                         int
		user, knownHosts, jumpHost   field[string]
		port                         field[int]
		identityFiles                field[[]string]
		sudo                         field[bool]
		identityLines                []int
		knownHostsLine, jumpHostLine int
	}
	api struct {
		port, metricsPort field[int]
		caFile, tokenEnv  field[string]
	}
	paths   rawPaths
	service struct {
		unit, stop, start, isActive field[string]
	}
	gates struct {
		timeout, stabilisation field[time.Duration]
	}
	cloud      *rawCloud
	nodes      []rawNode
	nodesField field[bool]
	firstLine  int
}

// Known keys, in the order docs/inventory.md lists them (suggestions use them).
var (
	topKeys     = []string{"cluster", "ssh", "api", "paths", "service", "gates", "cloud", "nodes"}
	sshKeys     = []string{"user", "port", "identity_files", "known_hosts", "jump_host", "sudo"}
	apiKeys     = []string{"port", "metrics_port", "ca_file", "token_env"}
	pathKeys    = []string{"binary", "data_root", "backup_dir"}
	serviceKeys = []string{"unit", "stop", "start", "is_active"}
	gateKeys    = []string{"timeout", "stabilisation"}
	nodeKeys    = []string{"name", "host", "ssh_port", "user", "api_host", "jump_host", "paths"}
)

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML turns the text into a rawInventory, reporting syntax errors,
// wrong shapes and unknown keys. It returns nil when the file is not even a
// mapping.
func parseYAML(c *collector, data []byte) *rawInventory {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		line := 0
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		c.add(line, "YAML syntax error: %s (docs/inventory.md shows the format)", msg)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		c.add(0, "the file is empty: an inventory needs at least `cluster:` and `nodes:` (docs/inventory.md)")
		return nil
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		c.add(root.Line, "the inventory must be a mapping with `cluster:` and `nodes:` at the top, not %s (docs/inventory.md)", kindName(root))
		return nil
	}
	raw := &rawInventory{firstLine: root.Line}
	w := walker{c: c}
	w.mapping(root, "at the top level", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "cluster":
			raw.cluster = w.str(v, "cluster")
		case "ssh":
			raw.ssh.line = k.Line
			w.mapping(v, "in ssh", sshKeys, func(key string, k, v *yaml.Node) {
				switch key {
				case "user":
					raw.ssh.user = w.str(v, "ssh.user")
				case "port":
					raw.ssh.port = w.int(v, "ssh.port")
				case "identity_files":
					raw.ssh.identityFiles, raw.ssh.identityLines = w.strList(v, "ssh.identity_files")
				case "known_hosts":
					raw.ssh.knownHosts = w.str(v, "ssh.known_hosts")
				case "jump_host":
					raw.ssh.jumpHost = w.str(v, "ssh.jump_host")
				case "sudo":
					raw.ssh.sudo = w.bool(v, "ssh.sudo")
				}
			})
		case "api":
			w.mapping(v, "in api", apiKeys, func(key string, k, v *yaml.Node) {
				switch key {
				case "port":
					raw.api.port = w.int(v, "api.port")
				case "metrics_port":
					raw.api.metricsPort = w.int(v, "api.metrics_port")
				case "ca_file":
					raw.api.caFile = w.str(v, "api.ca_file")
				case "token_env":
					raw.api.tokenEnv = w.str(v, "api.token_env")
				}
			})
		case "paths":
			raw.paths = w.paths(v, "paths", "in paths")
		case "service":
			w.mapping(v, "in service", serviceKeys, func(key string, k, v *yaml.Node) {
				switch key {
				case "unit":
					raw.service.unit = w.str(v, "service.unit")
				case "stop":
					raw.service.stop = w.str(v, "service.stop")
				case "start":
					raw.service.start = w.str(v, "service.start")
				case "is_active":
					raw.service.isActive = w.str(v, "service.is_active")
				}
			})
		case "gates":
			w.mapping(v, "in gates", gateKeys, func(key string, k, v *yaml.Node) {
				switch key {
				case "timeout":
					raw.gates.timeout = w.duration(v, "gates.timeout")
				case "stabilisation":
					raw.gates.stabilisation = w.duration(v, "gates.stabilisation")
				}
			})
		case "cloud":
			raw.cloud = w.cloud(k, v)
		case "nodes":
			raw.nodesField = field[bool]{v: true, set: true, line: k.Line}
			raw.nodes = w.nodes(v)
		}
	})
	return raw
}

type walker struct {
	c *collector
}

// deref follows YAML aliases (*anchor) to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("the value %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// mapping walks a mapping's keys: unknown keys and repeated keys are errors.
// An empty value (`ssh:` with nothing under it) is an empty mapping.
func (w walker) mapping(n *yaml.Node, where string, known []string, each func(key string, k, v *yaml.Node)) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		w.c.add(n.Line, "expected a mapping of keys %s, got %s", where, kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k == nil || v == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.c.add(k.Line, "expected a key %s, got %s", where, kindName(k))
			continue
		}
		key := k.Value
		if first, dup := seen[key]; dup {
			w.c.add(k.Line, "key %q appears twice %s (first on line %d): keep one", key, where, first)
			continue
		}
		seen[key] = k.Line
		if !contains(known, key) {
			w.c.add(k.Line, "unknown key %q %s%s; known keys: %s", key, where, suggest(key, known), strings.Join(known, ", "))
			continue
		}
		each(key, k, v)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a scalar as text. Null means unset.
func (w walker) str(n *yaml.Node, name string) field[string] {
	if isNull(n) {
		return field[string]{line: lineOf(n)}
	}
	if n.Kind != yaml.ScalarNode {
		w.c.add(n.Line, "%s must be a single value, got %s", name, kindName(n))
		return field[string]{line: n.Line}
	}
	return field[string]{v: n.Value, set: true, line: n.Line}
}

func lineOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

func (w walker) int(n *yaml.Node, name string) field[int] {
	if isNull(n) {
		return field[int]{line: lineOf(n)}
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		w.c.add(n.Line, "%s must be a whole number such as 22, got %s", name, kindName(n))
		return field[int]{line: n.Line}
	}
	return field[int]{v: v, set: true, line: n.Line}
}

func (w walker) bool(n *yaml.Node, name string) field[bool] {
	if isNull(n) {
		return field[bool]{line: lineOf(n)}
	}
	var v bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v) != nil {
		w.c.add(n.Line, "%s must be true or false, got %s", name, kindName(n))
		return field[bool]{line: n.Line}
	}
	return field[bool]{v: v, set: true, line: n.Line}
}

func (w walker) duration(n *yaml.Node, name string) field[time.Duration] {
	if isNull(n) {
		return field[time.Duration]{line: lineOf(n)}
	}
	if n.Kind != yaml.ScalarNode {
		w.c.add(n.Line, "%s must be a duration such as 5m, 90s or 1m30s, got %s", name, kindName(n))
		return field[time.Duration]{line: n.Line}
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		w.c.add(n.Line, "%s: %s has no unit; write it as %ss (or with m, h)", name, n.Value, n.Value)
		return field[time.Duration]{line: n.Line}
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		w.c.add(n.Line, "%s: %q is not a duration; write it like 5m, 90s or 1m30s", name, n.Value)
		return field[time.Duration]{line: n.Line}
	}
	return field[time.Duration]{v: d, set: true, line: n.Line}
}

// strList reads a list of strings; a single value is a list of one.
func (w walker) strList(n *yaml.Node, name string) (field[[]string], []int) {
	if isNull(n) {
		return field[[]string]{line: lineOf(n)}, nil
	}
	if n.Kind == yaml.ScalarNode {
		return field[[]string]{v: []string{n.Value}, set: true, line: n.Line}, []int{n.Line}
	}
	if n.Kind != yaml.SequenceNode {
		w.c.add(n.Line, "%s must be a list such as [~/.ssh/id_ed25519], got %s", name, kindName(n))
		return field[[]string]{line: n.Line}, nil
	}
	var out []string
	var lines []int
	for _, it := range n.Content {
		it = deref(it)
		if it == nil || isNull(it) {
			continue
		}
		if it.Kind != yaml.ScalarNode {
			w.c.add(it.Line, "%s must list file paths, got %s", name, kindName(it))
			continue
		}
		out = append(out, it.Value)
		lines = append(lines, it.Line)
	}
	return field[[]string]{v: out, set: true, line: n.Line}, lines
}

func (w walker) paths(n *yaml.Node, prefix, where string) rawPaths {
	var p rawPaths
	w.mapping(n, where, pathKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "binary":
			p.binary = w.str(v, prefix+".binary")
		case "data_root":
			p.dataRoot = w.str(v, prefix+".data_root")
		case "backup_dir":
			p.backupDir = w.str(v, prefix+".backup_dir")
		}
	})
	return p
}

func (w walker) nodes(n *yaml.Node) []rawNode {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		w.c.add(n.Line, "nodes must be a list of entries such as `- name: fw-a` / `  host: 10.0.1.11`, got %s", kindName(n))
		return nil
	}
	var out []rawNode
	for i, it := range n.Content {
		it = deref(it)
		if it == nil {
			continue
		}
		rn := rawNode{line: it.Line, label: fmt.Sprintf("node #%d", i+1)}
		if it.Kind != yaml.MappingNode {
			w.c.add(it.Line, "%s must be a mapping with name: and host:, got %s", rn.label, kindName(it))
			continue
		}
		// Name the node in messages about its other keys.
		for j := 0; j+1 < len(it.Content); j += 2 {
			k, v := deref(it.Content[j]), deref(it.Content[j+1])
			if k != nil && v != nil && k.Kind == yaml.ScalarNode && k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" && !isNull(v) {
				rn.label = "node " + v.Value
				break
			}
		}
		where := "in " + rn.label
		w.mapping(it, where, nodeKeys, func(key string, k, v *yaml.Node) {
			switch key {
			case "name":
				rn.name = w.str(v, rn.label+": name")
			case "host":
				rn.host = w.str(v, rn.label+": host")
			case "ssh_port":
				rn.sshPort = w.int(v, rn.label+": ssh_port")
			case "user":
				rn.user = w.str(v, rn.label+": user")
			case "api_host":
				rn.apiHost = w.str(v, rn.label+": api_host")
			case "jump_host":
				rn.jumpHost = w.str(v, rn.label+": jump_host")
			case "paths":
				rn.paths = w.paths(v, rn.label+": paths", "in "+rn.label+" paths")
			}
		})
		out = append(out, rn)
	}
	return out
}
