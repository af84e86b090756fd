package inventory

import (
	"errors"
	"strings"
	"testing"
)

func TestCloudSection(t *testing.T) {
	f := newFixture(t)
	inv := mustLoad(t, f, `cluster: prod-eu1
ssh:
  user: ops
  port: 2222
api:
  port: 9443
cloud:
  provider: aws
  region: eu-west-1
  group: neuwerk-asg
  endpoints:
    autoscaling: http://127.0.4.200:4566/autoscaling
    ec2: http://127.0.4.200:4566/ec2
  credentials: anonymous
`, "")
	c := inv.Cloud
	if c == nil || c.Provider != "aws" || c.Region != "eu-west-1" || c.Group != "neuwerk-asg" || !c.Anonymous ||
		c.Endpoints["autoscaling"] != "http://127.0.4.200:4566/autoscaling" || c.Endpoints["ec2"] != "http://127.0.4.200:4566/ec2" {
		t.Fatalf("cloud: %+v", c)
	}
	if n := inv.Nodes(); len(n) != 0 {
		t.Fatalf("a cloud inventory lists no nodes: %v", n)
	}
	n, err := inv.Discovered("i-0abc", "10.0.1.17")
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "i-0abc" || n.Host != "10.0.1.17" || n.SSHPort != 2222 || n.User != "ops" || n.APIURL != "https://10.0.1.17:9443" ||
		n.Paths.Binary != DefaultBinary || n.KnownHosts != f.knownHosts && n.KnownHosts == "" {
		t.Fatalf("discovered node: %+v", n)
	}
}

func TestCloudSectionErrors(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, text string
		want       []string
	}{
		{"provider", "cluster: c\ncloud:\n  provider: azure\n  region: r\n  group: g\n",
			[]string{`cloud.provider "azure": nwroll drives aws groups`}},
		{"missing", "cluster: c\ncloud:\n  provider: aws\n",
			[]string{"cloud: region is missing", "cloud: group is missing"}},
		{"nodes too", "cluster: c\ncloud: {provider: aws, region: r, group: g}\nnodes:\n  - {name: a, host: 10.0.0.1}\n",
			[]string{"with `cloud:` the nodes are the instances of group g, discovered at each run: remove `nodes:`"}},
		{"anonymous without endpoints", "cluster: c\ncloud: {provider: aws, region: r, group: g, credentials: anonymous}\n",
			[]string{"cloud.credentials: anonymous sends unsigned requests, which only a simulator accepts"}},
		{"bad endpoint", "cluster: c\ncloud:\n  provider: aws\n  region: r\n  group: g\n  endpoints: {ec2: 'ftp://x'}\n",
			[]string{`cloud.endpoints.ec2 "ftp://x" is not an http(s) URL`}},
		{"unknown key", "cluster: c\ncloud: {provider: aws, region: r, group: g, groups: x}\n",
			[]string{`unknown key "groups" in cloud (did you mean "group"?)`}},
		{"credentials", "cluster: c\ncloud: {provider: aws, region: r, group: g, credentials: keys}\n",
			[]string{`cloud.credentials "keys": use default`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.load(t, tc.text, "")
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("want an *Error, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}
