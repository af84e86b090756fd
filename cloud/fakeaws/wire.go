package fakeaws

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Service versions and XML namespaces.
const (
	AutoScalingVersion   = "2011-01-01"
	EC2Version           = "2016-11-15"
	AutoScalingNamespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
	EC2Namespace         = "http://ec2.amazonaws.com/doc/2016-11-15/"
)

// apiError is an error answer.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func validation(format string, args ...any) *apiError {
	return &apiError{Status: 400, Code: "ValidationError", Message: fmt.Sprintf(format, args...)}
}

func ec2Err(code, format string, args ...any) *apiError {
	return &apiError{Status: 400, Code: code, Message: fmt.Sprintf(format, args...)}
}

type handler func(f *Fake, form url.Values, now time.Time) (any, *apiError)

var requestSeq atomic.Int64

func requestID() string {
	n := requestSeq.Add(1)
	return fmt.Sprintf("%08x-fa4e-4a5e-9000-%012x", n, n)
}

// ServeHTTP answers one Auto Scaling or EC2 Query request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeASError(w, &apiError{Status: 400, Code: "MalformedInput", Message: err.Error()})
		return
	}
	action := r.Form.Get("Action")
	version := r.Form.Get("Version")
	isEC2 := version == EC2Version || (version == "" && strings.HasPrefix(r.URL.Path, "/ec2"))
	var h handler
	switch {
	case version == AutoScalingVersion:
		h = autoscalingActions[action]
	case version == EC2Version:
		h = ec2Actions[action]
	default:
		e := &apiError{Status: 400, Code: "NoSuchVersion", Message: fmt.Sprintf("The requested version (%s) of service is not supported.", version)}
		if isEC2 {
			writeEC2Error(w, e)
		} else {
			writeASError(w, e)
		}
		return
	}
	if h == nil {
		e := &apiError{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service.", action)}
		if isEC2 {
			writeEC2Error(w, e)
		} else {
			writeASError(w, e)
		}
		return
	}
	f.mu.Lock()
	var (
		result any
		aerr   *apiError
	)
	if ft, ok := f.apiFault(action, r.Form.Get("AutoScalingGroupName")); ok {
		aerr = &apiError{Status: ft.Status, Code: ft.Code, Message: ft.Message}
		if aerr.Status == 0 {
			aerr.Status = 400
		}
	} else {
		result, aerr = h(f, r.Form, f.now())
	}
	f.mu.Unlock()
	f.poke()
	switch {
	case aerr != nil && isEC2:
		writeEC2Error(w, aerr)
	case aerr != nil:
		writeASError(w, aerr)
	case isEC2:
		writeEC2(w, action, result)
	default:
		writeAS(w, action, result)
	}
}

// writeAS writes <ActionResponse><ActionResult>…</ActionResult>
// <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>.
func writeAS(w http.ResponseWriter, action string, result any) {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	root := xml.StartElement{Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: AutoScalingNamespace}}}
	must(enc.EncodeToken(root))
	resultStart := xml.StartElement{Name: xml.Name{Local: action + "Result"}}
	if result == nil {
		must(enc.EncodeToken(resultStart))
		must(enc.EncodeToken(resultStart.End()))
	} else {
		must(enc.EncodeElement(result, resultStart))
	}
	must(enc.EncodeElement(struct {
		RequestID string `xml:"RequestId"`
	}{requestID()}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}))
	must(enc.EncodeToken(root.End()))
	must(enc.Flush())
	writeXML(w, http.StatusOK, buf.Bytes())
}

// writeEC2 writes <ActionResponse><requestId>…</requestId>…fields….
func writeEC2(w http.ResponseWriter, action string, result any) {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	root := xml.StartElement{Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: EC2Namespace}}}
	must(enc.EncodeToken(root))
	must(enc.EncodeElement(requestID(), xml.StartElement{Name: xml.Name{Local: "requestId"}}))
	if result != nil {
		// The result's fields sit directly under the root: encode the
		// result inside a throwaway element and keep its inside.
		var inner bytes.Buffer
		must(xml.NewEncoder(&inner).EncodeElement(result, xml.StartElement{Name: xml.Name{Local: "x"}}))
		b := inner.Bytes()
		b = bytes.TrimPrefix(b, []byte("<x>"))
		b = bytes.TrimSuffix(b, []byte("</x>"))
		must(enc.Flush())
		buf.Write(b)
	}
	must(enc.EncodeToken(root.End()))
	must(enc.Flush())
	writeXML(w, http.StatusOK, buf.Bytes())
}

func writeASError(w http.ResponseWriter, e *apiError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	body := struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string
			Code    string
			Message string
		}
		RequestID string `xml:"RequestId"`
	}{Xmlns: AutoScalingNamespace, RequestID: requestID()}
	body.Error.Type, body.Error.Code, body.Error.Message = typ, e.Code, e.Message
	b, err := xml.Marshal(body)
	must(err)
	writeXML(w, e.Status, b)
}

func writeEC2Error(w http.ResponseWriter, e *apiError) {
	type errXML struct {
		Code    string
		Message string
	}
	body := struct {
		XMLName   xml.Name `xml:"Response"`
		Errors    []errXML `xml:"Errors>Error"`
		RequestID string
	}{Errors: []errXML{{e.Code, e.Message}}, RequestID: requestID()}
	b, err := xml.Marshal(body)
	must(err)
	writeXML(w, e.Status, append([]byte(xml.Header), b...))
}

func writeXML(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// must panics on an encoding error: the fake's own structs always encode.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// members reads an Auto Scaling list: name.member.1, name.member.2, ….
func members(form url.Values, name string) []string {
	return numbered(form, name+".member.")
}

// numbered reads prefix1, prefix2, … until one is missing.
func numbered(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[prefix+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// ec2Filters reads Filter.N.Name / Filter.N.Value.M.
func ec2Filters(form url.Values) map[string][]string {
	out := map[string][]string{}
	for i := 1; ; i++ {
		p := "Filter." + strconv.Itoa(i) + "."
		name := form.Get(p + "Name")
		if name == "" {
			return out
		}
		out[name] = append(out[name], numbered(form, p+"Value.")...)
	}
}

// intField reads an integer field; ok is false when it is absent.
func intField(form url.Values, name string) (n int, ok bool, err *apiError) {
	s := form.Get(name)
	if s == "" {
		return 0, false, nil
	}
	n, e := strconv.Atoi(s)
	if e != nil {
		return 0, false, validation("Value '%s' at '%s' failed to satisfy constraint: Member must be an integer", s, name)
	}
	return n, true, nil
}

// page cuts items to one page: token is the offset the previous page
// ended at, max the caller's page size (0: the API's default).
// pageForm pages items by the request's page size field and NextToken.
func pageForm[T any](f *Fake, form url.Values, sizeField string, items []T, apiMax int) ([]T, string, *apiError) {
	max, _, aerr := intField(form, sizeField)
	if aerr != nil {
		return nil, "", aerr
	}
	return page(f, items, form.Get("NextToken"), max, apiMax)
}

func page[T any](f *Fake, items []T, token string, max, apiMax int) ([]T, string, *apiError) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", &apiError{Status: 400, Code: "InvalidNextToken", Message: "The token '" + token + "' is invalid."}
		}
		start = n
	}
	size := apiMax
	if max > 0 && max < size {
		size = max
	}
	if f.opts.PageSize > 0 && f.opts.PageSize < size {
		size = f.opts.PageSize
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
