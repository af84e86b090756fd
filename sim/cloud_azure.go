package sim

import (
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/nwroll/nwroll/cloud/fakeazure"
	"github.com/nwroll/nwroll/sim/node"
)

// The simulated Azure: a VM scale set behind fakeazure (ARM's compute and
// network APIs, and IMDS scheduled events under /metadata), its model on a
// gallery image version, a terminate notification long enough for
// Neuwerk's drain and automatic repairs running, and Neuwerk's azure-vmss
// integration on every node.

const (
	azureFakeTitle = "fake Azure (ARM + IMDS)"
	azureRG        = "rg-neuwerk"
	azureGallery   = "nwroll"
	// azureNotBefore is the scale set's notBeforeTimeout (Neuwerk's drain
	// timeout); azureHold caps how long the fake really holds a deleted VM
	// nobody acknowledges (one that never joined).
	azureNotBefore = 5 * time.Minute
	azureHold      = 15 * time.Second
)

var azureKind = cloudKind{
	name: CloudAzure, group: "a VM scale set", service: azureFakeTitle,
	faults: []string{FaultLaunchError, FaultNoCapacity, FaultHangTermination},
	open:   openAzure,
	integration: func(info *Info) node.IntegrationConfig {
		return node.IntegrationConfig{Mode: node.IntegrationAzureVMSS, Azure: node.AzureConfig{
			SubscriptionID: info.CloudSubscription, ResourceGroup: info.CloudResourceGroup, VMSSName: info.CloudGroup}}
	},
	inventory: func(in *Info) string {
		return fmt.Sprintf("cloud:\n  provider: azure\n  subscription: %s\n  resource_group: %s\n  group: %s\n  endpoints:\n    resourcemanager: %s\n  credentials: anonymous\n",
			in.CloudSubscription, in.CloudResourceGroup, in.CloudGroup, in.CloudURL)
	},
	scope: func(in *Info) string { return "resource group " + in.CloudResourceGroup },
	place: func(in *Info) {
		in.CloudSubscription = fmt.Sprintf("00000000-0000-0000-0000-%012d", in.Block)
		in.CloudResourceGroup = azureRG
	},
	instanceID: func(cluster, _ string, index int) string { return fmt.Sprintf("%s_%d", CloudGroupName(cluster), index) },
}

// azureVersion is the gallery image version of the index'th simulator
// release: the release itself when it is Major.Minor.Patch numbers, as
// gallery versions must be, else 0.0.index (the tag names the release).
func azureVersion(index int, release string) string {
	if galleryVersion.MatchString(release) {
		return release
	}
	return fmt.Sprintf("0.0.%d", index)
}

var galleryVersion = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

type azureCloud struct {
	f    *fakeazure.Fake
	name string
}

func openAzure(s *supervisor, snapshot []byte) (fakeCloud, error) {
	opts := fakeazure.Options{Backend: cloudBackend{s}, Subscription: s.info.CloudSubscription, NotBeforeCap: azureHold}
	if snapshot != nil {
		f, err := fakeazure.Restore(snapshot, opts)
		if err != nil {
			return nil, err
		}
		return &azureCloud{f: f, name: s.info.CloudGroup}, nil
	}
	f := fakeazure.New(opts)
	if err := seedAzure(f, s.info); err != nil {
		f.Close()
		return nil, err
	}
	return &azureCloud{f: f, name: s.info.CloudGroup}, nil
}

// seedAzure fills a new fake: one tagged gallery image version per
// release, and the scale set on info.Release's with the live nodes
// adopted.
func seedAzure(f *fakeazure.Fake, info *Info) error {
	var image string
	for i, r := range Releases {
		id, err := f.AddImage(fakeazure.ImageSpec{ResourceGroup: azureRG, Gallery: azureGallery, Version: azureVersion(i, r.Version), Release: r.Version})
		if err != nil {
			return err
		}
		if r.Version == info.Release {
			image = id
		}
	}
	var adopt []fakeazure.Adopted
	for _, n := range info.LiveNodes() {
		adopt = append(adopt, fakeazure.Adopted{Name: n.InstanceID, PrivateIP: n.IP})
	}
	_, err := f.AddScaleSet(fakeazure.ScaleSetSpec{Name: info.CloudGroup, ResourceGroup: azureRG, Image: image,
		TerminateNotification: true, NotBeforeTimeout: azureNotBefore,
		Services: map[string]string{"AutomaticRepairs": "Running"}, Adopt: adopt})
	return err
}

func (a *azureCloud) serve(addr string) (io.Closer, error) {
	srv, err := a.f.Serve(addr)
	if err != nil {
		return nil, err
	}
	return srv, nil
}

func (a *azureCloud) snapshot() ([]byte, error) { return a.f.Snapshot() }
func (a *azureCloud) state() any                { return a.f.State() }
func (a *azureCloud) clearFaults()              { a.f.ClearFaults() }
func (a *azureCloud) close()                    { a.f.Close() }

func (a *azureCloud) group() (CloudGroupStatus, map[string]string, error) {
	s, ok := a.f.ScaleSet(a.name)
	if !ok {
		return CloudGroupStatus{}, nil, fmt.Errorf("the %s has no scale set %s", azureFakeTitle, a.name)
	}
	lc := map[string]string{}
	for _, v := range s.VMs {
		lc[v.Name] = v.State
		if v.EventStatus != "" {
			lc[v.Name] += " (Terminate " + v.EventStatus + ")"
		}
	}
	return CloudGroupStatus{Group: s.Name, Desired: s.Capacity, Min: s.Capacity, Max: s.Capacity + 1,
		Template: "model", Version: fmt.Sprint(s.Model)}, lc, nil
}

func (a *azureCloud) fault(f CloudFault) error {
	switch f.Kind {
	case FaultLaunchError:
		return a.f.Inject(fakeazure.Fault{Kind: fakeazure.FaultAPIError, ScaleSet: a.name, API: "VirtualMachineScaleSetsClient.BeginUpdate",
			Status: 409, Code: "OperationNotAllowed", Message: "The operation is not allowed while another is in progress."})
	case FaultNoCapacity:
		return a.f.Inject(fakeazure.Fault{Kind: fakeazure.FaultLaunchError, ScaleSet: a.name})
	case FaultHangTermination:
		return a.f.Inject(fakeazure.Fault{Kind: fakeazure.FaultHangDeletion, ScaleSet: a.name, VM: f.Instance})
	}
	return fmt.Errorf("fault %s is not simulated on azure", f.Kind)
}
