package sim

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nwroll/nwroll/cloud/fakegcp"
	"github.com/nwroll/nwroll/sim/node"
)

// The simulated GCP: a regional managed instance group behind fakegcp
// (the compute v1 REST API), whose template has a graceful shutdown long
// enough for Neuwerk's drain, and Neuwerk's gcp-mig integration on every
// node. GCP holds no deletion: a deleted instance gets its graceful
// shutdown window (gcpGrace here) and goes.

const (
	gcpRegion    = "europe-west1"
	gcpFakeTitle = "fake GCP (Compute Engine)"
	// gcpGraceful is the template's scheduling.gracefulShutdown.maxDuration
	// (Neuwerk's drain timeout); gcpGrace is how long the fake really
	// waits, as the simulated nodes drain in CloudDrainMillis.
	gcpGraceful = 300 * time.Second
	gcpGrace    = 2 * time.Second
)

var gcpKind = cloudKind{
	name: CloudGCP, group: "a regional managed instance group", service: gcpFakeTitle,
	faults: []string{FaultLaunchError, FaultNoCapacity, FaultHangTermination},
	open:   openGCP,
	integration: func(info *Info) node.IntegrationConfig {
		return node.IntegrationConfig{Mode: node.IntegrationGCPMIG,
			GCP: node.GCPConfig{Project: info.CloudProject, Region: info.CloudRegion, IGName: info.CloudGroup}}
	},
	inventory: func(in *Info) string {
		return fmt.Sprintf("cloud:\n  provider: gcp\n  project: %s\n  region: %s\n  group: %s\n  endpoints:\n    compute: %s\n  credentials: anonymous\n",
			in.CloudProject, in.CloudRegion, in.CloudGroup, in.CloudURL)
	},
	scope: func(in *Info) string { return "project " + in.CloudProject + "  region " + in.CloudRegion },
	place: func(in *Info) { in.CloudProject, in.CloudRegion = "nwroll-"+in.Cluster, gcpRegion },
	instanceID: func(cluster, name string, _ int) string {
		return CloudGroupName(cluster) + "-" + stableID("", cluster, "node/"+name)[:4]
	},
}

// gcpImage is the image name of release version.
func gcpImage(version string) string {
	return "neuwerk-" + strings.NewReplacer(".", "-", "_", "-").Replace(version)
}

type gcpCloud struct {
	f    *fakegcp.Fake
	name string
}

func openGCP(s *supervisor, snapshot []byte) (fakeCloud, error) {
	opts := fakegcp.Options{Backend: cloudBackend{s}, Project: s.info.CloudProject, Region: s.info.CloudRegion, GracefulDelay: gcpGrace}
	if snapshot != nil {
		f, err := fakegcp.Restore(snapshot, opts)
		if err != nil {
			return nil, err
		}
		return &gcpCloud{f: f, name: s.info.CloudGroup}, nil
	}
	f := fakegcp.New(opts)
	if err := seedGCP(f, s.info); err != nil {
		f.Close()
		return nil, err
	}
	return &gcpCloud{f: f, name: s.info.CloudGroup}, nil
}

// seedGCP fills a new fake: one labelled image per release, the template
// on info.Release's image, and the group with the live nodes adopted.
func seedGCP(f *fakegcp.Fake, info *Info) error {
	for _, r := range Releases {
		if _, err := f.AddImage(fakegcp.ImageSpec{Name: gcpImage(r.Version), Release: r.Version}); err != nil {
			return err
		}
	}
	tmpl, err := f.AddTemplate(fakegcp.TemplateSpec{Name: info.CloudGroup + "-" + gcpImage(info.Release),
		SourceImage: gcpImage(info.Release), GracefulShutdown: gcpGraceful})
	if err != nil {
		return err
	}
	live := info.LiveNodes()
	var adopt []fakegcp.Adopted
	for _, n := range live {
		adopt = append(adopt, fakegcp.Adopted{Name: n.InstanceID, PrivateIP: n.IP})
	}
	_, err = f.AddGroup(fakegcp.GroupSpec{Name: info.CloudGroup, Template: tmpl, TargetSize: len(live), Adopt: adopt})
	return err
}

func (g *gcpCloud) serve(addr string) (io.Closer, error) {
	srv, err := g.f.Serve(addr)
	if err != nil {
		return nil, err
	}
	return srv, nil
}

func (g *gcpCloud) snapshot() ([]byte, error) { return g.f.Snapshot() }
func (g *gcpCloud) state() any                { return g.f.State() }
func (g *gcpCloud) clearFaults()              { g.f.ClearFaults() }
func (g *gcpCloud) close()                    { g.f.Close() }

func (g *gcpCloud) group() (CloudGroupStatus, map[string]string, error) {
	grp, ok := g.f.Group(g.name)
	if !ok {
		return CloudGroupStatus{}, nil, fmt.Errorf("the %s has no group %s", gcpFakeTitle, g.name)
	}
	lc := map[string]string{}
	for _, in := range grp.Instances {
		lc[in.Name] = in.CurrentAction + "/" + in.Status
	}
	st := CloudGroupStatus{Group: grp.Name, Desired: grp.TargetSize, Min: grp.TargetSize, Max: grp.TargetSize + 1}
	if len(grp.Versions) > 0 {
		st.Template, st.Version = grp.Versions[0].Template, grp.Versions[0].Template
	}
	return st, lc, nil
}

func (g *gcpCloud) fault(f CloudFault) error {
	switch f.Kind {
	case FaultLaunchError:
		return g.f.Inject(fakegcp.Fault{Kind: fakegcp.FaultAPIError, Method: "regionInstanceGroupManagers.resize",
			Status: 409, Reason: "resourceNotReady", Message: "The resource is not ready"})
	case FaultNoCapacity:
		return g.f.Inject(fakegcp.Fault{Kind: fakegcp.FaultLaunchError})
	case FaultHangTermination:
		return g.f.Inject(fakegcp.Fault{Kind: fakegcp.FaultHangDeletion, Instance: f.Instance})
	}
	return fmt.Errorf("fault %s is not simulated on gcp", f.Kind)
}
