package inventory

import (
	"errors"
	"strings"
	"testing"
	"time"
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

func TestCloudSectionAzureAndGCP(t *testing.T) {
	f := newFixture(t)
	az := mustLoad(t, f, `cluster: c
cloud:
  provider: azure
  subscription: 00000000-0000-0000-0000-000000000001
  resource_group: rg-fw
  group: vmss-fw
  drain_timeout: 10m
  endpoints: {resourcemanager: "http://127.0.4.250:4566"}
  credentials: anonymous
`, "").Cloud
	if az.Provider != "azure" || az.Subscription != "00000000-0000-0000-0000-000000000001" || az.ResourceGroup != "rg-fw" ||
		az.Group != "vmss-fw" || az.DrainTimeout != 10*time.Minute || az.Endpoints["resourcemanager"] != "http://127.0.4.250:4566" || !az.Anonymous {
		t.Fatalf("azure: %+v", az)
	}
	g := mustLoad(t, f, "cluster: c\ncloud: {provider: gcp, project: fw-prod, region: europe-west1, group: mig-fw}\n", "").Cloud
	if g.Provider != "gcp" || g.Project != "fw-prod" || g.Region != "europe-west1" || g.Group != "mig-fw" || g.DrainTimeout != 0 || g.Anonymous {
		t.Fatalf("gcp: %+v", g)
	}
}

func TestCloudSectionErrors(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, text string
		want       []string
	}{
		{"provider", "cluster: c\ncloud:\n  provider: oci\n  region: r\n  group: g\n",
			[]string{`cloud.provider "oci": nwroll drives aws, azure, gcp groups`}},
		{"azure missing", "cluster: c\ncloud: {provider: azure, group: g, region: r}\n",
			[]string{"cloud.region does not apply to azure groups: remove it (azure takes subscription, resource_group)",
				"cloud: subscription is missing", "cloud: resource_group is missing"}},
		{"gcp missing", "cluster: c\ncloud: {provider: gcp, group: g}\n",
			[]string{"cloud: project is missing", "cloud: region is missing"}},
		{"endpoint of another provider", "cluster: c\ncloud: {provider: gcp, project: p, region: r, group: g, endpoints: {ec2: 'http://127.0.0.1:1'}}\n",
			[]string{"cloud.endpoints.ec2: gcp endpoints are compute"}},
		{"drain timeout", "cluster: c\ncloud: {provider: gcp, project: p, region: r, group: g, drain_timeout: 5m0}\n",
			[]string{`cloud.drain_timeout "5m0" is not a duration such as 300s`}},
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
