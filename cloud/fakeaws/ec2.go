package fakeaws

import (
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

var ec2Actions = map[string]handler{
	"DescribeInstances":              (*Fake).describeInstances,
	"DescribeImages":                 (*Fake).describeImages,
	"DescribeLaunchTemplateVersions": (*Fake).describeTemplateVersions,
	"CreateLaunchTemplateVersion":    (*Fake).createTemplateVersion,
}

// Wire shapes (EC2).

type xEC2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type xInstanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xEC2Instance struct {
	InstanceID     string         `xml:"instanceId"`
	ImageID        string         `xml:"imageId"`
	InstanceState  xInstanceState `xml:"instanceState"`
	PrivateDNSName string         `xml:"privateDnsName"`
	InstanceType   string         `xml:"instanceType"`
	LaunchTime     string         `xml:"launchTime"`
	Placement      struct {
		AvailabilityZone string `xml:"availabilityZone"`
	} `xml:"placement"`
	PrivateIPAddress string    `xml:"privateIpAddress,omitempty"`
	StateReason      *xReason  `xml:"stateReason,omitempty"`
	TagSet           []xEC2Tag `xml:"tagSet>item"`
}

type xReason struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type xReservation struct {
	ReservationID string         `xml:"reservationId"`
	OwnerID       string         `xml:"ownerId"`
	Instances     []xEC2Instance `xml:"instancesSet>item"`
}

type xImage struct {
	ImageID      string    `xml:"imageId"`
	ImageState   string    `xml:"imageState"`
	ImageOwnerID string    `xml:"imageOwnerId"`
	CreationDate string    `xml:"creationDate"`
	Name         string    `xml:"name"`
	Architecture string    `xml:"architecture"`
	ImageType    string    `xml:"imageType"`
	TagSet       []xEC2Tag `xml:"tagSet>item"`
}

type xTemplateData struct {
	ImageID      string `xml:"imageId,omitempty"`
	InstanceType string `xml:"instanceType,omitempty"`
}

type xTemplateVersion struct {
	LaunchTemplateID   string        `xml:"launchTemplateId"`
	LaunchTemplateName string        `xml:"launchTemplateName"`
	VersionNumber      int           `xml:"versionNumber"`
	VersionDescription string        `xml:"versionDescription,omitempty"`
	CreateTime         string        `xml:"createTime"`
	CreatedBy          string        `xml:"createdBy"`
	DefaultVersion     bool          `xml:"defaultVersion"`
	LaunchTemplateData xTemplateData `xml:"launchTemplateData"`
}

var ec2StateCodes = map[string]int{EC2Pending: 0, EC2Running: 16, EC2ShuttingDown: 32, EC2Terminated: 48}

func tagSet(tags map[string]string) []xEC2Tag {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]xEC2Tag, len(keys))
	for i, k := range keys {
		out[i] = xEC2Tag{k, tags[k]}
	}
	return out
}

// tagFilter matches the tag:KEY and tag-key filters.
func tagFilter(name string, values []string, tags map[string]string) (matched, known bool) {
	if key, ok := strings.CutPrefix(name, "tag:"); ok {
		v, has := tags[key]
		return has && slices.Contains(values, v), true
	}
	if name == "tag-key" {
		for _, k := range values {
			if _, ok := tags[k]; ok {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

func (f *Fake) describeInstances(form url.Values, _ time.Time) (any, *apiError) {
	ids := numbered(form, "InstanceId.")
	var missing []string
	for _, id := range ids {
		if f.st.Instances[id] == nil {
			missing = append(missing, id)
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return nil, ec2Err("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	default:
		return nil, ec2Err("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	filters := ec2Filters(form)
	var all []*EC2Instance
	for _, in := range f.st.Instances {
		if len(ids) > 0 && !slices.Contains(ids, in.ID) {
			continue
		}
		ok, aerr := instanceMatches(in, filters)
		if aerr != nil {
			return nil, aerr
		}
		if ok {
			all = append(all, in)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].LaunchTime.Equal(all[j].LaunchTime) {
			return all[i].LaunchTime.Before(all[j].LaunchTime)
		}
		return all[i].ID < all[j].ID
	})
	items, next, aerr := pageForm(f, form, "MaxResults", all, 1000)
	if aerr != nil {
		return nil, aerr
	}
	res := make([]xReservation, len(items))
	for i, in := range items {
		x := xEC2Instance{InstanceID: in.ID, ImageID: in.ImageID,
			InstanceState: xInstanceState{ec2StateCodes[in.State], in.State}, InstanceType: in.InstanceType,
			LaunchTime: iso(in.LaunchTime), PrivateIPAddress: in.PrivateIP, TagSet: tagSet(in.Tags)}
		if in.PrivateIP != "" {
			x.PrivateDNSName = "ip-" + strings.ReplaceAll(in.PrivateIP, ".", "-") + ".ec2.internal"
		}
		x.Placement.AvailabilityZone = in.Zone
		if in.StateReason != "" {
			code, _, _ := strings.Cut(in.StateReason, ": ")
			x.StateReason = &xReason{code, in.StateReason}
		}
		res[i] = xReservation{ReservationID: "r-" + strings.TrimPrefix(in.ID, "i-"), OwnerID: f.opts.AccountID, Instances: []xEC2Instance{x}}
	}
	return struct {
		Reservations []xReservation `xml:"reservationSet>item"`
		NextToken    string         `xml:"nextToken,omitempty"`
	}{res, next}, nil
}

func instanceMatches(in *EC2Instance, filters map[string][]string) (bool, *apiError) {
	for name, values := range filters {
		var ok bool
		switch name {
		case "instance-id":
			ok = slices.Contains(values, in.ID)
		case "instance-state-name":
			ok = slices.Contains(values, in.State)
		case "image-id":
			ok = slices.Contains(values, in.ImageID)
		case "private-ip-address":
			ok = slices.Contains(values, in.PrivateIP)
		default:
			matched, known := tagFilter(name, values, in.Tags)
			if !known {
				return false, ec2Err("InvalidParameterValue", "The filter '%s' is invalid", name)
			}
			ok = matched
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func (f *Fake) describeImages(form url.Values, _ time.Time) (any, *apiError) {
	ids := numbered(form, "ImageId.")
	for _, id := range ids {
		if f.st.Images[id] == nil {
			return nil, ec2Err("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
		}
	}
	filters := ec2Filters(form)
	var all []*Image
	for _, img := range f.st.Images {
		if len(ids) > 0 && !slices.Contains(ids, img.ID) {
			continue
		}
		match := true
		for name, values := range filters {
			var ok bool
			switch name {
			case "image-id":
				ok = slices.Contains(values, img.ID)
			case "name":
				ok = slices.Contains(values, img.Name)
			case "state":
				ok = slices.Contains(values, img.State)
			default:
				matched, known := tagFilter(name, values, img.Tags)
				if !known {
					return nil, ec2Err("InvalidParameterValue", "The filter '%s' is invalid", name)
				}
				ok = matched
			}
			match = match && ok
		}
		if match {
			all = append(all, img)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	items, next, aerr := pageForm(f, form, "MaxResults", all, 1000)
	if aerr != nil {
		return nil, aerr
	}
	out := make([]xImage, len(items))
	for i, img := range items {
		out[i] = xImage{ImageID: img.ID, ImageState: img.State, ImageOwnerID: f.opts.AccountID,
			CreationDate: iso(img.Created), Name: img.Name, Architecture: "x86_64", ImageType: "machine", TagSet: tagSet(img.Tags)}
	}
	return struct {
		Images    []xImage `xml:"imagesSet>item"`
		NextToken string   `xml:"nextToken,omitempty"`
	}{out, next}, nil
}

// ec2Template finds the template a request names by LaunchTemplateId or
// LaunchTemplateName.
func (f *Fake) ec2Template(form url.Values) (*LaunchTemplate, *apiError) {
	id, name := form.Get("LaunchTemplateId"), form.Get("LaunchTemplateName")
	switch {
	case id == "" && name == "":
		return nil, ec2Err("MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId")
	case id != "" && name != "":
		return nil, ec2Err("InvalidParameterCombination", "Only one of LaunchTemplateName and LaunchTemplateId may be specified")
	}
	lt := f.templateByIDOrName(id, name)
	if lt == nil && id != "" {
		return nil, ec2Err("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
	}
	if lt == nil {
		return nil, ec2Err("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", name)
	}
	return lt, nil
}

func (f *Fake) versionXML(lt *LaunchTemplate, v *TemplateVersion) xTemplateVersion {
	return xTemplateVersion{LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, VersionNumber: v.Number,
		VersionDescription: v.Description, CreateTime: iso(v.Created),
		CreatedBy: "arn:aws:iam::" + f.opts.AccountID + ":user/nwroll", DefaultVersion: v.Number == lt.DefaultVersion,
		LaunchTemplateData: xTemplateData{ImageID: v.ImageID, InstanceType: v.InstanceType}}
}

func (f *Fake) describeTemplateVersions(form url.Values, _ time.Time) (any, *apiError) {
	lt, aerr := f.ec2Template(form)
	if aerr != nil {
		return nil, aerr
	}
	var all []*TemplateVersion
	if want := numbered(form, "LaunchTemplateVersion."); len(want) > 0 {
		for _, w := range want {
			v, ok := lt.resolve(w)
			if !ok {
				return nil, ec2Err("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template ID %s.", w, lt.ID)
			}
			if !slices.Contains(all, v) {
				all = append(all, v)
			}
		}
	} else {
		lo, _, aerr := intField(form, "MinVersion")
		if aerr != nil {
			return nil, aerr
		}
		hi, haveHi, aerr := intField(form, "MaxVersion")
		if aerr != nil {
			return nil, aerr
		}
		for _, v := range lt.Versions {
			if v.Number >= lo && (!haveHi || v.Number <= hi) {
				all = append(all, v)
			}
		}
	}
	items, next, aerr := pageForm(f, form, "MaxResults", all, 200)
	if aerr != nil {
		return nil, aerr
	}
	out := make([]xTemplateVersion, len(items))
	for i, v := range items {
		out[i] = f.versionXML(lt, v)
	}
	return struct {
		Versions  []xTemplateVersion `xml:"launchTemplateVersionSet>item"`
		NextToken string             `xml:"nextToken,omitempty"`
	}{out, next}, nil
}

// createTemplateVersion honours ClientToken: a repeat with the same token
// returns the version the first call made.
func (f *Fake) createTemplateVersion(form url.Values, now time.Time) (any, *apiError) {
	lt, aerr := f.ec2Template(form)
	if aerr != nil {
		return nil, aerr
	}
	answer := func(v *TemplateVersion) (any, *apiError) {
		return struct {
			Version xTemplateVersion `xml:"launchTemplateVersion"`
		}{f.versionXML(lt, v)}, nil
	}
	token := form.Get("ClientToken")
	if n, ok := lt.ClientTokens[token]; ok && token != "" {
		return answer(lt.Versions[n-1])
	}
	v := &TemplateVersion{Number: len(lt.Versions) + 1, Description: form.Get("VersionDescription"), Created: now}
	if src := form.Get("SourceVersion"); src != "" {
		base, ok := lt.resolve(src)
		if !ok {
			return nil, ec2Err("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template ID %s.", src, lt.ID)
		}
		v.ImageID, v.InstanceType = base.ImageID, base.InstanceType
	}
	if img := form.Get("LaunchTemplateData.ImageId"); img != "" {
		if f.st.Images[img] == nil {
			return nil, ec2Err("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", img)
		}
		v.ImageID = img
	}
	if t := form.Get("LaunchTemplateData.InstanceType"); t != "" {
		v.InstanceType = t
	}
	lt.Versions = append(lt.Versions, v)
	if token != "" {
		if lt.ClientTokens == nil {
			lt.ClientTokens = map[string]int{}
		}
		lt.ClientTokens[token] = v.Number
	}
	return answer(v)
}
