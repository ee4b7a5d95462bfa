package securitygate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Parsers read each scanner's JSON report, by tool name.
var Parsers = map[string]func([]byte) ([]Finding, error){
	"trivy":       ParseTrivy,
	"govulncheck": ParseGovulncheck,
	"zap":         ParseZAP,
	"kube-bench":  ParseKubeBench,
	"kube-hunter": ParseKubeHunter,
	"nuclei":      ParseNuclei,
	"falco":       ParseFalco,
}

// Tools are the tools a report may come from, sorted.
func Tools() []string { return slices.Sorted(maps.Keys(Parsers)) }

// decode reads one JSON document, refusing trailing data.
func decode(data []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(into); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON document")
	}
	return nil
}

// ParseTrivy reads `trivy image|fs --format json`: vulnerabilities and
// secrets at Trivy's own grade, misconfigurations that failed.
func ParseTrivy(data []byte) ([]Finding, error) {
	var r struct {
		SchemaVersion int
		ArtifactName  string
		Results       []struct {
			Target          string
			Vulnerabilities []struct {
				VulnerabilityID, PkgName, InstalledVersion, Severity, Title string
			}
			Misconfigurations []struct {
				ID, Title, Severity, Status string
			}
			Secrets []struct {
				RuleID, Title, Severity string
			}
		}
	}
	if err := decode(data, &r); err != nil {
		return nil, fmt.Errorf("trivy: %w", err)
	}
	if r.SchemaVersion == 0 {
		return nil, errors.New("trivy: not a Trivy JSON report (no SchemaVersion)")
	}
	var out []Finding
	for _, res := range r.Results {
		where := res.Target
		if r.ArtifactName != "" && r.ArtifactName != where {
			where = r.ArtifactName + " " + where
		}
		for _, v := range res.Vulnerabilities {
			out = append(out, Finding{Tool: "trivy", Severity: ParseSeverity(v.Severity), ID: v.VulnerabilityID, Where: where,
				Title: fmt.Sprintf("%s %s: %s", v.PkgName, v.InstalledVersion, v.Title)})
		}
		for _, m := range res.Misconfigurations {
			if m.Status == "FAIL" {
				out = append(out, Finding{Tool: "trivy", Severity: ParseSeverity(m.Severity), ID: m.ID, Where: where, Title: m.Title})
			}
		}
		for _, s := range res.Secrets {
			out = append(out, Finding{Tool: "trivy", Severity: ParseSeverity(s.Severity), ID: s.RuleID, Where: where, Title: "secret: " + s.Title})
		}
	}
	return out, nil
}

// ParseGovulncheck reads `govulncheck -json ./...`, a stream of messages.
// govulncheck grades nothing; a vulnerability whose vulnerable function our
// code calls is Critical (reachable: the exposure is real, as govulncheck's
// own exit status says), one only in a module or package we import is Low.
func ParseGovulncheck(data []byte) ([]Finding, error) {
	type frame struct {
		Module, Package, Function string
	}
	var (
		config  bool
		summary = map[string]string{}
		worst   = map[string]Severity{}
		where   = map[string]string{}
		order   []string
	)
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var m struct {
			Config *json.RawMessage
			OSV    *struct {
				ID      string `json:"id"`
				Summary string `json:"summary"`
			} `json:"osv"`
			Finding *struct {
				OSV   string  `json:"osv"`
				Trace []frame `json:"trace"`
			} `json:"finding"`
		}
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("govulncheck: %w", err)
		}
		config = config || m.Config != nil
		if m.OSV != nil {
			summary[m.OSV.ID] = m.OSV.Summary
		}
		if f := m.Finding; f != nil && f.OSV != "" {
			sev := Low
			if len(f.Trace) > 0 && f.Trace[0].Function != "" {
				sev = Critical
			}
			if _, seen := worst[f.OSV]; !seen {
				order = append(order, f.OSV)
				worst[f.OSV] = sev
			} else if sev < worst[f.OSV] {
				worst[f.OSV] = sev
			}
			if len(f.Trace) > 0 && where[f.OSV] == "" {
				where[f.OSV] = strings.TrimSpace(f.Trace[0].Module + " " + f.Trace[0].Package)
			}
		}
	}
	if !config {
		return nil, errors.New("govulncheck: not a govulncheck -json stream (no config message)")
	}
	var out []Finding
	for _, id := range order {
		out = append(out, Finding{Tool: "govulncheck", Severity: worst[id], ID: id, Where: where[id], Title: summary[id]})
	}
	return out, nil
}

// ParseZAP reads OWASP ZAP's JSON report (the baseline and full scans'
// -J): an alert per rule and site at its risk code (3 High, 2 Medium,
// 1 Low, 0 Informational). ZAP has no grade above High.
func ParseZAP(data []byte) ([]Finding, error) {
	var r struct {
		Site *[]struct {
			Name   string `json:"@name"`
			Alerts []struct {
				PluginID string `json:"pluginid"`
				Alert    string `json:"alert"`
				RiskCode string `json:"riskcode"`
			} `json:"alerts"`
		} `json:"site"`
	}
	if err := decode(data, &r); err != nil {
		return nil, fmt.Errorf("zap: %w", err)
	}
	if r.Site == nil {
		return nil, errors.New("zap: not a ZAP JSON report (no site)")
	}
	risk := map[string]Severity{"3": High, "2": Medium, "1": Low, "0": Info}
	var out []Finding
	for _, s := range *r.Site {
		for _, a := range s.Alerts {
			sev, ok := risk[a.RiskCode]
			if !ok {
				return nil, fmt.Errorf("zap: alert %s on %s has risk code %q (want 0-3)", a.PluginID, s.Name, a.RiskCode)
			}
			out = append(out, Finding{Tool: "zap", Severity: sev, ID: a.PluginID, Where: s.Name, Title: a.Alert})
		}
	}
	return out, nil
}

// ParseKubeBench reads `kube-bench --json`: a CIS check that failed is
// Medium when the benchmark scores it and Low when it does not; a warning
// (a check to make by hand) is Low.
func ParseKubeBench(data []byte) ([]Finding, error) {
	var r struct {
		Controls *[]struct {
			ID       string `json:"id"`
			NodeType string `json:"node_type"`
			Tests    []struct {
				Results []struct {
					Number string `json:"test_number"`
					Desc   string `json:"test_desc"`
					Status string `json:"status"`
					Scored bool   `json:"scored"`
				} `json:"results"`
			} `json:"tests"`
		} `json:"Controls"`
	}
	if err := decode(data, &r); err != nil {
		return nil, fmt.Errorf("kube-bench: %w", err)
	}
	if r.Controls == nil {
		return nil, errors.New("kube-bench: not a kube-bench JSON report (no Controls)")
	}
	var out []Finding
	for _, c := range *r.Controls {
		for _, t := range c.Tests {
			for _, res := range t.Results {
				var sev Severity
				switch {
				case res.Status == "FAIL" && res.Scored:
					sev = Medium
				case res.Status == "FAIL", res.Status == "WARN":
					sev = Low
				default:
					continue
				}
				out = append(out, Finding{Tool: "kube-bench", Severity: sev, ID: "CIS " + res.Number, Where: c.NodeType, Title: res.Desc})
			}
		}
	}
	return out, nil
}

// ParseKubeHunter reads `kube-hunter --report json`: each vulnerability at
// its severity (high, medium, low).
func ParseKubeHunter(data []byte) ([]Finding, error) {
	var r struct {
		Vulnerabilities *[]struct {
			Location, VID, Severity, Vulnerability string
		} `json:"vulnerabilities"`
	}
	if err := decode(data, &r); err != nil {
		return nil, fmt.Errorf("kube-hunter: %w", err)
	}
	if r.Vulnerabilities == nil {
		return nil, errors.New("kube-hunter: not a kube-hunter JSON report (no vulnerabilities)")
	}
	var out []Finding
	for _, v := range *r.Vulnerabilities {
		out = append(out, Finding{Tool: "kube-hunter", Severity: ParseSeverity(v.Severity), ID: v.VID, Where: v.Location, Title: v.Vulnerability})
	}
	return out, nil
}

// ParseNuclei reads `nuclei -jsonl`: one match per line at its template's
// severity. Nuclei writes nothing when nothing matched, so an empty
// report is a clean one.
func ParseNuclei(data []byte) ([]Finding, error) {
	var out []Finding
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m struct {
			Template  string `json:"template-id"`
			MatchedAt string `json:"matched-at"`
			Info      struct {
				Name, Severity string
			} `json:"info"`
		}
		if err := decode(line, &m); err != nil {
			return nil, fmt.Errorf("nuclei: line %d: %w", n, err)
		}
		if m.Template == "" {
			return nil, fmt.Errorf("nuclei: line %d: no template-id (not a nuclei -jsonl result)", n)
		}
		out = append(out, Finding{Tool: "nuclei", Severity: ParseSeverity(m.Info.Severity), ID: m.Template, Where: m.MatchedAt, Title: m.Info.Name})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("nuclei: %w", err)
	}
	return out, nil
}

// ParseFalco reads `falco --validate <rules> -o json_output=true`: a rules
// file that does not load is Critical (Falco would not start, and nothing
// is watched at run time), each of its errors a finding; a warning is Low.
func ParseFalco(data []byte) ([]Finding, error) {
	var r struct {
		Results *[]struct {
			Name       string            `json:"name"`
			Successful bool              `json:"successful"`
			Errors     []json.RawMessage `json:"errors"`
			Warnings   []json.RawMessage `json:"warnings"`
		} `json:"falco_load_results"`
	}
	if err := decode(data, &r); err != nil {
		return nil, fmt.Errorf("falco: %w", err)
	}
	if r.Results == nil {
		return nil, errors.New("falco: not a Falco validation report (no falco_load_results)")
	}
	var out []Finding
	for _, f := range *r.Results {
		add := func(sev Severity, raw json.RawMessage) {
			var e struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}
			if json.Unmarshal(raw, &e) != nil {
				// Older releases give warnings as plain strings.
				_ = json.Unmarshal(raw, &e.Message)
			}
			out = append(out, Finding{Tool: "falco", Severity: sev, ID: e.Code, Where: f.Name, Title: e.Message})
		}
		for _, e := range f.Errors {
			add(Critical, e)
		}
		if !f.Successful && len(f.Errors) == 0 {
			out = append(out, Finding{Tool: "falco", Severity: Critical, Where: f.Name, Title: "rules file did not load"})
		}
		for _, w := range f.Warnings {
			add(Low, w)
		}
	}
	return out, nil
}
