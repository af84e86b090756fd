package fakeazure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"github.com/nwroll/nwroll/cloud/fakeazure"
	"github.com/nwroll/nwroll/cloud/fakecloud"
)

type token struct{}

func (token) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type harness struct {
	f       *fakeazure.Fake
	backend *fakecloud.MemoryBackend
	url     string
	sets    *armcompute.VirtualMachineScaleSetsClient
	vms     *armcompute.VirtualMachineScaleSetVMsClient
	nics    *armnetwork.InterfacesClient
	names   []string
	image   string

	mu    sync.Mutex
	paths []string // every request's method and path
}

func newHarness(t *testing.T, opts fakeazure.Options, spec fakeazure.ScaleSetSpec) *harness {
	t.Helper()
	h := &harness{backend: &fakecloud.MemoryBackend{}}
	if opts.Backend == nil {
		opts.Backend = h.backend
	}
	opts.Tick, opts.RetryAfter = 5*time.Millisecond, 2*time.Millisecond
	h.f = fakeazure.New(opts)
	t.Cleanup(h.f.Close)
	var err error
	if h.image, err = h.f.AddImage(fakeazure.ImageSpec{Version: "1.0.0", Release: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	if spec.Name == "" {
		spec.Name = "nw"
	}
	spec.Image = h.image
	if h.names, err = h.f.AddScaleSet(spec); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.paths = append(h.paths, r.Method+" "+r.URL.Path)
		h.mu.Unlock()
		h.f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	o := &arm.ClientOptions{ClientOptions: policy.ClientOptions{InsecureAllowCredentialWithHTTP: true, Retry: policy.RetryOptions{MaxRetries: -1},
		Cloud: azcloud.Configuration{Services: map[azcloud.ServiceName]azcloud.ServiceConfiguration{
			azcloud.ResourceManager: {Endpoint: srv.URL, Audience: "https://management.azure.com"}}}}}
	sub := h.f.Subscription()
	if h.sets, err = armcompute.NewVirtualMachineScaleSetsClient(sub, token{}, o); err != nil {
		t.Fatal(err)
	}
	if h.vms, err = armcompute.NewVirtualMachineScaleSetVMsClient(sub, token{}, o); err != nil {
		t.Fatal(err)
	}
	if h.nics, err = armnetwork.NewInterfacesClient(sub, token{}, o); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.paths...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline, has := t.Deadline()
	for !cond() {
		if has && time.Until(deadline) < 5*time.Second {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func adopt(ips ...string) []fakeazure.Adopted {
	var out []fakeazure.Adopted
	for _, ip := range ips {
		out = append(out, fakeazure.Adopted{PrivateIP: ip})
	}
	return out
}

// TestOperationPolledOverHTTP: a capacity update answers InProgress for
// OperationPolls polls at the SDK fake poller's URL, then its result.
func TestOperationPolledOverHTTP(t *testing.T) {
	h := newHarness(t, fakeazure.Options{OperationPolls: 3}, fakeazure.ScaleSetSpec{Adopt: []fakeazure.Adopted{{Name: "nw_1", PrivateIP: "10.0.9.1"}}})
	ctx := t.Context()
	poller, err := h.sets.BeginUpdate(ctx, "nw-rg", "nw", armcompute.VirtualMachineScaleSetUpdate{SKU: &armcompute.SKU{Capacity: to(int64(2))}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	polls := 0
	for !poller.Done() {
		if _, err := poller.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		polls++
		if polls > 10 {
			t.Fatal("the operation never ended")
		}
	}
	if polls != 3 {
		t.Errorf("%d polls, want 3", polls)
	}
	res, err := poller.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := *res.SKU.Capacity; c != 2 {
		t.Errorf("result capacity = %d", c)
	}
	n := 0
	for _, p := range h.requests() {
		if strings.HasPrefix(p, "GET ") && strings.HasSuffix(p, "/virtualMachineScaleSets/nw/get/fake/status") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d status polls over HTTP: %q", n, h.requests())
	}
	// Unknown operations are not found.
	resp, err := http.Get(h.url + "/subscriptions/x/get/fake/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown operation: %d", resp.StatusCode)
	}
	eventually(t, "the second VM runs", func() bool {
		s, _ := h.f.ScaleSet("nw")
		return len(s.VMs) == 2 && s.VMs[1].State == fakeazure.Succeeded
	})
	s, _ := h.f.ScaleSet("nw")
	if v := s.VMs[1]; v.Name != "nw_2" || v.PrivateIP == "" || !h.backend.Running("nw_2") {
		t.Errorf("new VM = %+v", v)
	}
}

func imds(t *testing.T, url, method string, body any) *http.Response {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url+"/metadata/scheduledevents?api-version=2020-07-01", rd)
	req.Header.Set("Metadata", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func events(t *testing.T, url string) fakeazure.Events {
	t.Helper()
	resp := imds(t, url, http.MethodGet, nil)
	defer resp.Body.Close()
	var doc fakeazure.Events
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func deleteVM(t *testing.T, h *harness, instanceID string) {
	t.Helper()
	poller, err := h.sets.BeginDeleteInstances(t.Context(), "nw-rg", "nw",
		armcompute.VirtualMachineScaleSetVMInstanceRequiredIDs{InstanceIDs: []*string{to(instanceID)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.PollUntilDone(t.Context(), &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
}

// TestTerminateNotification: a deleted VM is held by a Terminate event
// until StartRequests acknowledges it over IMDS.
func TestTerminateNotification(t *testing.T) {
	h := newHarness(t, fakeazure.Options{}, fakeazure.ScaleSetSpec{TerminateNotification: true, NotBeforeTimeout: 15 * time.Minute,
		Adopt: adopt("10.0.9.1", "10.0.9.2")})
	req, _ := http.NewRequest(http.MethodGet, h.url+"/metadata/scheduledevents", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("IMDS without the Metadata header: %d", resp.StatusCode)
	}
	before := events(t, h.url)
	if len(before.Events) != 0 {
		t.Fatalf("events before = %+v", before)
	}
	deleteVM(t, h, "0")
	doc := events(t, h.url)
	if len(doc.Events) != 1 || doc.DocumentIncarnation == before.DocumentIncarnation {
		t.Fatalf("events = %+v", doc)
	}
	ev := doc.Events[0]
	if ev.EventType != "Terminate" || ev.EventStatus != "Scheduled" || len(ev.Resources) != 1 || ev.Resources[0] != h.names[0] {
		t.Errorf("event = %+v", ev)
	}
	if nb, err := http.ParseTime(ev.NotBefore); err != nil || time.Until(nb) < 14*time.Minute {
		t.Errorf("NotBefore = %q (%v)", ev.NotBefore, err)
	}
	holds := h.backend.Holds()
	eventually(t, "the hold reaches the backend", func() bool { holds = h.backend.Holds(); return len(holds) == 1 })
	if holds[0].InstanceID != h.names[0] || holds[0].Token != ev.EventID || holds[0].Transition != "Terminate" {
		t.Errorf("hold = %+v", holds[0])
	}
	s, _ := h.f.ScaleSet("nw")
	if s.Capacity != 1 || s.VMs[0].State != fakeazure.Deleting {
		t.Errorf("after delete: capacity %d, %+v", s.Capacity, s.VMs[0])
	}
	// The VM list and NICs as the simulated node reads them.
	page, err := h.vms.NewListPager("nw-rg", "nw", nil).NextPage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Value) != 2 || *page.Value[0].Properties.ProvisioningState != "Deleting" || *page.Value[0].Name != h.names[0] {
		t.Errorf("VM list = %+v", page.Value)
	}
	nics, err := h.nics.NewListVirtualMachineScaleSetNetworkInterfacesPager("nw-rg", "nw", nil).NextPage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(nics.Value) != 2 || !strings.EqualFold(*nics.Value[1].Properties.VirtualMachine.ID, *page.Value[1].ID) ||
		*nics.Value[1].Properties.IPConfigurations[0].Properties.PrivateIPAddress != "10.0.9.2" {
		t.Errorf("NICs = %+v", nics.Value)
	}
	if h.backend.Terminated(h.names[0]) {
		t.Fatal("deleted before the acknowledgement")
	}
	resp = imds(t, h.url, http.MethodPost, map[string]any{"StartRequests": []map[string]string{{"EventId": ev.EventID}}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("StartRequests: %d", resp.StatusCode)
	}
	eventually(t, "the VM is deleted", func() bool {
		s, _ := h.f.ScaleSet("nw")
		return len(s.VMs) == 1
	})
	if !h.backend.Terminated(h.names[0]) || h.backend.Terminated(h.names[1]) {
		t.Error("the wrong VM terminated")
	}
	if doc := events(t, h.url); len(doc.Events) != 0 {
		t.Errorf("events after = %+v", doc.Events)
	}
}

// TestNotBeforeTimeout: without an acknowledgement the VM goes once the
// (capped) not-before timeout passed.
func TestNotBeforeTimeout(t *testing.T) {
	h := newHarness(t, fakeazure.Options{NotBeforeCap: 30 * time.Millisecond}, fakeazure.ScaleSetSpec{TerminateNotification: true,
		Adopt: adopt("10.0.9.1", "10.0.9.2")})
	deleteVM(t, h, "1")
	eventually(t, "the VM is deleted", func() bool { return h.backend.Terminated(h.names[1]) })
	s, _ := h.f.ScaleSet("nw")
	if len(s.VMs) != 1 || s.VMs[0].Name != h.names[0] {
		t.Errorf("VMs = %+v", s.VMs)
	}
}

// TestHangDeletion: a hung deletion ignores the acknowledgement and the
// timeout until the fault is cleared.
func TestHangDeletion(t *testing.T) {
	h := newHarness(t, fakeazure.Options{NotBeforeCap: 10 * time.Millisecond}, fakeazure.ScaleSetSpec{TerminateNotification: true,
		Adopt: adopt("10.0.9.1", "10.0.9.2")})
	if err := h.f.HangDeletion(h.names[0]); err != nil {
		t.Fatal(err)
	}
	deleteVM(t, h, "0")
	ev := events(t, h.url).Events[0]
	h.f.Acknowledge(ev.EventID)
	time.Sleep(100 * time.Millisecond) // ten times the timeout, many ticks
	if h.backend.Terminated(h.names[0]) {
		t.Fatal("a hung deletion went")
	}
	h.f.ClearFaults()
	eventually(t, "the VM goes once released", func() bool { return h.backend.Terminated(h.names[0]) })
}

// TestScaleIn: a lower capacity deletes the highest instance id not
// protected from scale-in; no notification without an enabled profile.
func TestScaleIn(t *testing.T) {
	h := newHarness(t, fakeazure.Options{}, fakeazure.ScaleSetSpec{Adopt: []fakeazure.Adopted{
		{PrivateIP: "10.0.9.1"}, {PrivateIP: "10.0.9.2"}, {PrivateIP: "10.0.9.3", ProtectFromScaleIn: true}}})
	poller, err := h.sets.BeginUpdate(t.Context(), "nw-rg", "nw", armcompute.VirtualMachineScaleSetUpdate{SKU: &armcompute.SKU{Capacity: to(int64(2))}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.PollUntilDone(t.Context(), &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "one VM goes", func() bool { return h.backend.Terminated(h.names[1]) })
	if h.backend.Terminated(h.names[2]) || len(h.backend.Holds()) != 0 {
		t.Errorf("protected VM terminated %v, holds %+v", h.backend.Terminated(h.names[2]), h.backend.Holds())
	}
}

// TestFaultsAndErrors: an API error fault answers once, in ARM's shape;
// unknown scale sets, VMs and subscriptions are 404s; a backend launch
// error fails the VM.
func TestFaultsAndErrors(t *testing.T) {
	backend := &fakecloud.MemoryBackend{LaunchErr: errors.New("no capacity in zone 1")}
	h := newHarness(t, fakeazure.Options{Backend: backend}, fakeazure.ScaleSetSpec{Adopt: adopt("10.0.9.1")})
	if err := h.f.Inject(fakeazure.Fault{Kind: fakeazure.FaultAPIError, ScaleSet: "other", API: "VirtualMachineScaleSetVMsClient.NewListPager"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.vms.NewListPager("nw-rg", "nw", nil).NextPage(t.Context()); err != nil {
		t.Errorf("a fault for another scale set fired: %v", err)
	}
	h.f.ClearFaults()
	if err := h.f.FailNextCall("VirtualMachineScaleSetVMsClient.NewListPager", 429, "TooManyRequests", "Slow down."); err != nil {
		t.Fatal(err)
	}
	_, err := h.vms.NewListPager("nw-rg", "nw", nil).NextPage(t.Context())
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 429 || re.ErrorCode != "TooManyRequests" {
		t.Fatalf("fault: %v", err)
	}
	if _, err := h.vms.NewListPager("nw-rg", "nw", nil).NextPage(t.Context()); err != nil {
		t.Errorf("the fault fired twice: %v", err)
	}
	if h.f.Calls()["VirtualMachineScaleSetVMsClient.NewListPager"] != 3 {
		t.Errorf("calls = %v", h.f.Calls())
	}
	_, err = h.sets.Get(t.Context(), "nw-rg", "other", nil)
	if !errors.As(err, &re) || re.StatusCode != 404 || re.ErrorCode != "ResourceNotFound" {
		t.Errorf("unknown scale set: %v", err)
	}
	_, err = h.vms.Get(t.Context(), "nw-rg", "nw", "42", nil)
	if !errors.As(err, &re) || re.StatusCode != 404 {
		t.Errorf("unknown VM: %v", err)
	}
	_, err = h.sets.BeginDeleteInstances(t.Context(), "nw-rg", "nw", armcompute.VirtualMachineScaleSetVMInstanceRequiredIDs{InstanceIDs: []*string{to("42")}}, nil)
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "InvalidParameter" {
		t.Errorf("deleting an unknown VM: %v", err)
	}
	resp, err := http.Get(h.url + "/subscriptions/someone-else/resourceGroups/nw-rg/providers/Microsoft.Compute/virtualMachineScaleSets/nw")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("x-ms-error-code") != "SubscriptionNotFound" {
		t.Errorf("other subscription: %d %s", resp.StatusCode, resp.Header.Get("x-ms-error-code"))
	}
	poller, err := h.sets.BeginUpdate(t.Context(), "nw-rg", "nw", armcompute.VirtualMachineScaleSetUpdate{SKU: &armcompute.SKU{Capacity: to(int64(2))}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.PollUntilDone(t.Context(), &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the launch fails", func() bool {
		s, _ := h.f.ScaleSet("nw")
		return len(s.VMs) == 2 && s.VMs[1].State == fakeazure.Failed
	})
	got, err := h.vms.Get(t.Context(), "nw-rg", "nw", "1", &armcompute.VirtualMachineScaleSetVMsClientGetOptions{Expand: to(armcompute.InstanceViewTypesInstanceView)})
	if err != nil {
		t.Fatal(err)
	}
	if st := got.Properties.InstanceView.Statuses[0]; *st.Level != armcompute.StatusLevelTypesError || *st.Message != "no capacity in zone 1" {
		t.Errorf("failed VM status = %+v", st)
	}
	if err := h.f.Inject(fakeazure.Fault{Kind: "nonsense"}); err == nil {
		t.Error("an unknown fault was armed")
	}
}

// TestSnapshotRestore: a restored fake has the same state, tells the new
// backend about the hold again, and finishes the deletion.
func TestSnapshotRestore(t *testing.T) {
	h := newHarness(t, fakeazure.Options{}, fakeazure.ScaleSetSpec{TerminateNotification: true,
		Services: map[string]string{fakeazure.AutomaticRepairs: fakeazure.Suspended}, Adopt: adopt("10.0.9.1", "10.0.9.2")})
	if err := h.f.FailNextLaunch(); err != nil {
		t.Fatal(err)
	}
	deleteVM(t, h, "1")
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	h.f.Close()
	backend := &fakecloud.MemoryBackend{}
	g, err := fakeazure.Restore(snap, fakeazure.Options{Backend: backend, Tick: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	again, _ := g.Snapshot()
	if !bytes.Equal(snap, again) {
		t.Errorf("restored state differs:\n%s\n%s", snap, again)
	}
	if len(g.Faults()) != 1 {
		t.Errorf("faults = %+v", g.Faults())
	}
	var holds []fakecloud.HoldEvent
	eventually(t, "the hold is told again", func() bool { holds = backend.Holds(); return len(holds) == 1 })
	if holds[0].InstanceID != h.names[1] {
		t.Errorf("hold = %+v", holds[0])
	}
	g.Acknowledge(holds[0].Token)
	eventually(t, "the deletion finishes", func() bool { return backend.Terminated(h.names[1]) })
	if _, err := fakeazure.Restore([]byte("{"), fakeazure.Options{}); err == nil {
		t.Error("restored garbage")
	}
}

func to[T any](v T) *T { return &v }

// TestDeleteWaits: with DeleteWaits the deleteInstances operation stays
// InProgress until the VM is gone.
func TestDeleteWaits(t *testing.T) {
	h := newHarness(t, fakeazure.Options{DeleteWaits: true, OperationPolls: 1}, fakeazure.ScaleSetSpec{TerminateNotification: true,
		Adopt: adopt("10.0.9.1", "10.0.9.2")})
	poller, err := h.sets.BeginDeleteInstances(t.Context(), "nw-rg", "nw",
		armcompute.VirtualMachineScaleSetVMInstanceRequiredIDs{InstanceIDs: []*string{to("0")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := poller.Poll(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if poller.Done() {
		t.Fatal("the operation ended while the VM is held")
	}
	h.f.Acknowledge(events(t, h.url).Events[0].EventID)
	if _, err := poller.PollUntilDone(t.Context(), &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if !h.backend.Terminated(h.names[0]) {
		t.Error("done before the VM went")
	}
}
