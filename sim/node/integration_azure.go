package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
)

// azureGroup is the azure-vmss integration's provider part: the scale
// set's VMs and their NIC addresses through ARM, and the terminations
// through IMDS Scheduled Events, which every VM of a placement group sees
// for all of them and any may acknowledge (StartRequests). Real armcompute
// and armnetwork clients against sim-node.json's endpoint, which also
// serves the simulated IMDS under /metadata; no credentials.
type azureGroup struct {
	cfg      AzureConfig
	endpoint string
	vms      *armcompute.VirtualMachineScaleSetVMsClient
	nics     *armnetwork.InterfacesClient
	http     *http.Client
}

// simCredential is the token the simulated ARM accepts: anything.
type simCredential struct{}

func (simCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "simulated", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func newAzureGroup(cfg IntegrationConfig, endpoint string) (*azureGroup, error) {
	opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: azcloud.Configuration{ActiveDirectoryAuthorityHost: endpoint, Services: map[azcloud.ServiceName]azcloud.ServiceConfiguration{
			azcloud.ResourceManager: {Endpoint: endpoint, Audience: "https://management.azure.com"}}},
		InsecureAllowCredentialWithHTTP: true,
		Retry:                           policy.RetryOptions{MaxRetries: 1},
	}}
	vms, err := armcompute.NewVirtualMachineScaleSetVMsClient(cfg.Azure.SubscriptionID, simCredential{}, opts)
	if err != nil {
		return nil, err
	}
	nics, err := armnetwork.NewInterfacesClient(cfg.Azure.SubscriptionID, simCredential{}, opts)
	if err != nil {
		return nil, err
	}
	return &azureGroup{cfg: cfg.Azure, endpoint: strings.TrimSuffix(endpoint, "/"), vms: vms, nics: nics,
		http: &http.Client{Timeout: 5 * time.Second}}, nil
}

func (a *azureGroup) mode() string { return IntegrationAzureVMSS }

// discover lists the scale set's VMs by their primary NIC's address; a VM
// named by a scheduled Terminate event is being removed.
func (a *azureGroup) discover(ctx context.Context) (map[string]groupInstance, error) {
	ips := map[string]string{} // VM resource id → private IP
	np := a.nics.NewListVirtualMachineScaleSetNetworkInterfacesPager(a.cfg.ResourceGroup, a.cfg.VMSSName, nil)
	for np.More() {
		page, err := np.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the NICs of %s: %w", a.cfg.VMSSName, err)
		}
		for _, nic := range page.Value {
			if nic.Properties == nil || nic.Properties.VirtualMachine == nil || nic.Properties.VirtualMachine.ID == nil {
				continue
			}
			for _, c := range nic.Properties.IPConfigurations {
				if c.Properties != nil && c.Properties.PrivateIPAddress != nil {
					ips[strings.ToLower(*nic.Properties.VirtualMachine.ID)] = *c.Properties.PrivateIPAddress
					break
				}
			}
		}
	}
	doc, err := a.events(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]groupInstance{}
	vp := a.vms.NewListPager(a.cfg.ResourceGroup, a.cfg.VMSSName, nil)
	for vp.More() {
		page, err := vp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the VMs of %s: %w", a.cfg.VMSSName, err)
		}
		for _, vm := range page.Value {
			if vm.ID == nil || vm.Name == nil {
				continue
			}
			ip := ips[strings.ToLower(*vm.ID)]
			if ip == "" {
				continue
			}
			state := ""
			if vm.Properties != nil && vm.Properties.ProvisioningState != nil {
				state = *vm.Properties.ProvisioningState
			}
			ev := doc.terminate(*vm.Name)
			if ev != nil {
				state = "Terminate " + ev.EventStatus
			}
			out[ip] = groupInstance{id: *vm.Name, ip: ip, state: state, terminating: ev != nil}
		}
	}
	return out, nil
}

// scheduledEvents is IMDS's /metadata/scheduledevents document.
type scheduledEvents struct {
	DocumentIncarnation int              `json:"DocumentIncarnation"`
	Events              []scheduledEvent `json:"Events"`
}

type scheduledEvent struct {
	EventID     string   `json:"EventId"`
	EventType   string   `json:"EventType"`
	Resources   []string `json:"Resources"`
	EventStatus string   `json:"EventStatus"`
	NotBefore   string   `json:"NotBefore"`
}

// terminate is the Terminate event naming vm, or nil.
func (d scheduledEvents) terminate(vm string) *scheduledEvent {
	for i, e := range d.Events {
		if e.EventType == "Terminate" && slices.Contains(e.Resources, vm) {
			return &d.Events[i]
		}
	}
	return nil
}

const imdsEvents = "/metadata/scheduledevents?api-version=2020-07-01"

func (a *azureGroup) events(ctx context.Context) (scheduledEvents, error) {
	var doc scheduledEvents
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.endpoint+imdsEvents, nil)
	if err != nil {
		return doc, err
	}
	req.Header.Set("Metadata", "true")
	resp, err := a.http.Do(req)
	if err != nil {
		return doc, fmt.Errorf("scheduled events: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return doc, fmt.Errorf("scheduled events: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return doc, fmt.Errorf("scheduled events: %w", err)
	}
	return doc, nil
}

// hold: a terminate notification cannot be extended; its not-before
// timeout is the scale set's.
func (a *azureGroup) hold(context.Context) (time.Duration, error) { return 0, nil }
func (a *azureGroup) heartbeat(context.Context, string) error     { return nil }

// complete acknowledges the Terminate event naming vm (StartRequests);
// with none left there is nothing to answer.
func (a *azureGroup) complete(ctx context.Context, vm string) (bool, error) {
	doc, err := a.events(ctx)
	if err != nil {
		return false, err
	}
	ev := doc.terminate(vm)
	if ev == nil {
		return true, nil
	}
	body, _ := json.Marshal(map[string]any{"StartRequests": []map[string]string{{"EventId": ev.EventID}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint+imdsEvents, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Metadata", "true")
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("acknowledge event %s: %w", ev.EventID, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return false, fmt.Errorf("acknowledge event %s: %s", ev.EventID, resp.Status)
	}
	return true, nil
}
