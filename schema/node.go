package schema

import "go.yaml.in/yaml/v3"

// node is a node of the YAML parser's tree, as the loader walks it.
type node = yaml.Node
