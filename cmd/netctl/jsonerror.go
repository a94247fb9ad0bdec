package main

import (
	"encoding/json"
	"errors"
	"os"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// errorDoc is what plan --json prints when it fails: the error, and the
// problems of an invalid file as data. It has no resource_changes: the
// changes are unknown, not none.
type errorDoc struct {
	FormatVersion string               `json:"format_version"`
	NetctlVersion string               `json:"netctl_version"`
	Error         string               `json:"error"`
	Problems      []schema.ProblemJSON `json:"problems"`
}

// printed reports whether err needs no more words: an exit status the
// command chose after printing its document (--json's failures, and
// --detailed-exitcode's 2).
func printed(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && (ee.msg == "" || ee.code != 1)
}

// planJSONFailure prints err as plan's error document when --json asked
// for one: a program reading stdout always gets a document. The exit
// status stays 1.
func planJSONFailure(asJSON bool, err error) error {
	if !asJSON || err == nil || printed(err) {
		return err
	}
	doc := errorDoc{FormatVersion: plan.JSONFormatVersion, NetctlVersion: readBuildVersion().Module,
		Error: err.Error(), Problems: schema.ProblemsJSON(err)}
	// One line, as plan's document.
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if werr := enc.Encode(doc); werr != nil {
		return werr
	}
	return &exitError{code: 1}
}

// applyJSONFailure prints err as apply's (or destroy's) result when --json
// asked for one: nothing changed, the error, and the problems of an invalid
// file.
func applyJSONFailure(asJSON bool, err error) error {
	if !asJSON || err == nil || printed(err) {
		return err
	}
	msg := err.Error()
	res := applyResult{JSONPlan: plan.JSONPlan{FormatVersion: plan.JSONFormatVersion,
		ResourceChanges: []plan.JSONResourceChange{}, Warnings: []string{}},
		Error: &msg, Problems: schema.ProblemsJSON(err)}
	if werr := writeResult(res); werr != nil {
		return werr
	}
	return &exitError{code: 1}
}
