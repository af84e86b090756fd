package inventory

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Cloud is the inventory's `cloud:` section: the managed group the nodes
// run in (docs/inventory.md "Cloud mode"). With it the inventory lists no
// nodes: they are the group's instances, discovered at each run.
type Cloud struct {
	Provider string // "aws"
	Region   string
	Group    string // the Auto Scaling group's name
	// Endpoints override the provider's service endpoints (the simulator,
	// tests): "autoscaling", "ec2" → URL.
	Endpoints map[string]string
	// Anonymous: send unsigned requests (only with Endpoints: the
	// simulator needs no credentials). Otherwise the SDK's default chain
	// (environment, shared config and profiles) provides them.
	Anonymous bool
	Line      int
}

// Providers nwroll drives.
var cloudProviders = []string{"aws"}

var (
	cloudKeys    = []string{"provider", "region", "group", "endpoints", "credentials"}
	endpointKeys = []string{"autoscaling", "ec2"}
)

type rawCloud struct {
	line                                 int
	provider, region, group, credentials field[string]
	endpoints                            map[string]field[string]
}

// cloud reads the `cloud:` section.
func (w walker) cloud(k, v *yaml.Node) *rawCloud {
	rc := &rawCloud{line: k.Line, endpoints: map[string]field[string]{}}
	w.mapping(v, "in cloud", cloudKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "provider":
			rc.provider = w.str(v, "cloud.provider")
		case "region":
			rc.region = w.str(v, "cloud.region")
		case "group":
			rc.group = w.str(v, "cloud.group")
		case "credentials":
			rc.credentials = w.str(v, "cloud.credentials")
		case "endpoints":
			w.mapping(v, "in cloud.endpoints", endpointKeys, func(key string, k, v *yaml.Node) {
				rc.endpoints[key] = w.str(v, "cloud.endpoints."+key)
			})
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
	switch p := rc.provider.v; {
	case !rc.provider.set || p == "":
		c.add(rc.line, "cloud: provider is missing: `provider: aws` (the group's cloud)")
	case !slices.Contains(cloudProviders, p):
		c.add(rc.provider.line, "cloud.provider %q: nwroll drives %s groups (Azure scale sets and GCP managed instance groups are not supported yet)", p, strings.Join(cloudProviders, ", "))
	default:
		cl.Provider = p
	}
	if cl.Region = strings.TrimSpace(rc.region.v); cl.Region == "" {
		c.add(rc.line, "cloud: region is missing: `region: eu-west-1` (where the group runs)")
	}
	if cl.Group = strings.TrimSpace(rc.group.v); cl.Group == "" {
		c.add(rc.line, "cloud: group is missing: `group: <the Auto Scaling group's name>`")
	}
	for _, key := range endpointKeys {
		f, ok := rc.endpoints[key]
		if !ok {
			continue
		}
		u, err := url.Parse(f.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.add(f.line, "cloud.endpoints.%s %q is not an http(s) URL such as https://autoscaling.eu-west-1.amazonaws.com", key, f.v)
			continue
		}
		cl.Endpoints[key] = f.v
	}
	switch rc.credentials.v {
	case "", "default":
	case "anonymous":
		if len(cl.Endpoints) == 0 {
			c.add(rc.credentials.line, "cloud.credentials: anonymous sends unsigned requests, which only a simulator accepts: set cloud.endpoints too, or drop it to use the AWS SDK's default credential chain")
		}
		cl.Anonymous = true
	default:
		c.add(rc.credentials.line, "cloud.credentials %q: use default (the AWS SDK's chain: environment, shared config, profiles) or anonymous (the simulator)", rc.credentials.v)
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
