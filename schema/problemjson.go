package schema

// ProblemJSON is a Problem as data, for `netctl validate --json` and the
// error documents of plan, apply and destroy: what a program reads instead
// of parsing FILE:LINE:COL: FIELD: MESSAGE.
type ProblemJSON struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Field is the YAML path of the field, as
	// bridges.docker0.containers.web.address; "" for a problem with the
	// document as a whole (a syntax error, an empty file).
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ProblemsJSON returns the problems an error of Load holds as data, in the
// order they are rendered; [] (never nil) for an error that holds none.
func ProblemsJSON(err error) []ProblemJSON {
	ps := Problems(err)
	out := make([]ProblemJSON, len(ps))
	for i, p := range ps {
		out[i] = ProblemJSON{File: p.File, Line: p.Line, Column: p.Col, Field: p.Path, Message: p.Msg}
	}
	return out
}
