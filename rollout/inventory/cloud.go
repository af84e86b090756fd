package inventory

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Cloud is the inventory's `cloud:` section: the managed group the nodes
// run in (docs/inventory.md "Cloud mode"). With it the inventory lists no
// nodes: they are the group's instances, discovered at each run.
type Cloud struct {
	Provider string // "aws", "azure" or "gcp"
	Region   string // AWS and GCP
	Group    string // the Auto Scaling group's, scale set's or managed instance group's name
	// Subscription and ResourceGroup (Azure), Project (GCP) locate the group.
	Subscription  string
	ResourceGroup string
	Project       string
	// DrainTimeout is Neuwerk's integration.drain_timeout_secs, if the
	// cluster changed it (0: Neuwerk's default).
	DrainTimeout time.Duration
	// Endpoints override the provider's service endpoints (the simulator,
	// tests): service name → URL.
	Endpoints map[string]string
	// Anonymous: send unsigned requests (only with Endpoints: the
	// simulator needs no credentials). Otherwise the SDK's default chain
	// provides them.
	Anonymous bool
	Line      int
}

// cloudProvider is what the section needs for one provider.
type cloudProvider struct {
	name      string
	group     string   // what `group` names
	needs     []string // keys besides provider and group
	endpoints []string // the services `endpoints` may override
	example   string   // an endpoint URL, for the error
	chain     string   // the SDK's default credential chain
}

// cloudProviders are the providers nwroll drives.
var cloudProviders = []cloudProvider{
	{name: "aws", group: "the Auto Scaling group's name", needs: []string{"region"}, endpoints: []string{"autoscaling", "ec2"},
		example: "https://autoscaling.eu-west-1.amazonaws.com", chain: "the AWS SDK's chain: environment, shared config, profiles, instance roles"},
	{name: "azure", group: "the VM scale set's name", needs: []string{"subscription", "resource_group"}, endpoints: []string{"resourcemanager"},
		example: "https://management.azure.com", chain: "azidentity's default chain: environment, workload identity, managed identity, Azure CLI"},
	{name: "gcp", group: "the regional managed instance group's name", needs: []string{"project", "region"}, endpoints: []string{"compute"},
		example: "https://compute.googleapis.com/compute/v1/", chain: "application default credentials"},
}

// endpointKeys are every provider's services.
func endpointKeys() []string {
	var out []string
	for _, p := range cloudProviders {
		out = append(out, p.endpoints...)
	}
	return out
}

var cloudKeys = []string{"provider", "region", "subscription", "resource_group", "project", "group", "drain_timeout", "endpoints", "credentials"}

type rawCloud struct {
	line                                int
	provider, group, credentials, drain field[string]
	settings                            map[string]field[string] // region, subscription, resource_group, project
	endpoints                           map[string]field[string]
}

// cloud reads the `cloud:` section.
func (w walker) cloud(k, v *yaml.Node) *rawCloud {
	rc := &rawCloud{line: k.Line, settings: map[string]field[string]{}, endpoints: map[string]field[string]{}}
	w.mapping(v, "in cloud", cloudKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "provider":
			rc.provider = w.str(v, "cloud.provider")
		case "group":
			rc.group = w.str(v, "cloud.group")
		case "credentials":
			rc.credentials = w.str(v, "cloud.credentials")
		case "drain_timeout":
			rc.drain = w.str(v, "cloud.drain_timeout")
		case "endpoints":
			w.mapping(v, "in cloud.endpoints", endpointKeys(), func(key string, k, v *yaml.Node) {
				rc.endpoints[key] = w.str(v, "cloud.endpoints."+key)
			})
		default:
			rc.settings[key] = w.str(v, "cloud."+key)
		}
	})
	return rc
}

// resolveCloud validates the section; nil when there is none.
func resolveCloud(c *collector, rc *rawCloud) *Cloud {
	if rc == nil {
		return nil
	}
	cl := &Cloud{Line: rc.line, Endpoints: map[string]string{}}
	var names []string
	for _, p := range cloudProviders {
		names = append(names, p.name)
	}
	i := slices.IndexFunc(cloudProviders, func(p cloudProvider) bool { return p.name == rc.provider.v })
	switch {
	case !rc.provider.set || rc.provider.v == "":
		c.add(rc.line, "cloud: provider is missing: `provider: %s` (the group's cloud)", strings.Join(names, "|"))
		return cl
	case i < 0:
		c.add(rc.provider.line, "cloud.provider %q: nwroll drives %s groups", rc.provider.v, strings.Join(names, ", "))
		return cl
	}
	p := cloudProviders[i]
	cl.Provider = p.name
	if cl.Group = strings.TrimSpace(rc.group.v); cl.Group == "" {
		c.add(rc.line, "cloud: group is missing: `group: <%s>`", p.group)
	}
	for _, key := range slices.Sorted(maps.Keys(rc.settings)) {
		if f := rc.settings[key]; !slices.Contains(p.needs, key) {
			c.add(f.line, "cloud.%s does not apply to %s groups: remove it (%s takes %s)", key, p.name, p.name, strings.Join(p.needs, ", "))
		}
	}
	for _, key := range p.needs {
		v := strings.TrimSpace(rc.settings[key].v)
		if v == "" {
			c.add(rc.line, "cloud: %s is missing: `%s: <%s>`", key, key, strings.ReplaceAll(key, "_", " "))
		}
		switch key {
		case "region":
			cl.Region = v
		case "subscription":
			cl.Subscription = v
		case "resource_group":
			cl.ResourceGroup = v
		case "project":
			cl.Project = v
		}
	}
	if rc.drain.set {
		d, err := time.ParseDuration(rc.drain.v)
		if err != nil || d <= 0 {
			c.add(rc.drain.line, "cloud.drain_timeout %q is not a duration such as 300s: give the cluster's integration.drain_timeout_secs", rc.drain.v)
		}
		cl.DrainTimeout = d
	}
	for _, key := range slices.Sorted(maps.Keys(rc.endpoints)) {
		f := rc.endpoints[key]
		if !slices.Contains(p.endpoints, key) {
			c.add(f.line, "cloud.endpoints.%s: %s endpoints are %s", key, p.name, strings.Join(p.endpoints, ", "))
			continue
		}
		u, err := url.Parse(f.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.add(f.line, "cloud.endpoints.%s %q is not an http(s) URL such as %s", key, f.v, p.example)
			continue
		}
		cl.Endpoints[key] = f.v
	}
	switch rc.credentials.v {
	case "", "default":
	case "anonymous":
		if len(cl.Endpoints) == 0 {
			c.add(rc.credentials.line, "cloud.credentials: anonymous sends unsigned requests, which only a simulator accepts: set cloud.endpoints too, or drop it to use %s", p.chain)
		}
		cl.Anonymous = true
	default:
		c.add(rc.credentials.line, "cloud.credentials %q: use default (%s) or anonymous (the simulator)", rc.credentials.v, p.chain)
	}
	return cl
}

// Discovered is a node for an instance of the cloud group: named by the
// instance, reached at its private address, with the inventory's SSH,
// API and path settings and ~/.ssh/config applied, as if it were listed.
func (inv *Inventory) Discovered(name, ip string) (Node, error) {
	if inv.raw == nil || inv.env == nil {
		return Node{}, fmt.Errorf("inventory %s: not loaded from a file", inv.Path)
	}
	c := &collector{file: inv.Path}
	label := "instance " + name
	rn := rawNode{line: inv.Cloud.Line, label: label,
		name: field[string]{v: name, set: true, line: inv.Cloud.Line}, host: field[string]{v: ip, set: true, line: inv.Cloud.Line}}
	n, ok := resolveNode(c, rn, inv.raw, inv, inv.env)
	if err := c.err(); err != nil {
		return Node{}, err
	}
	if !ok {
		return Node{}, fmt.Errorf("%s: %s (%s) cannot be reached with the inventory's settings", inv.Path, label, ip)
	}
	return n, nil
}
