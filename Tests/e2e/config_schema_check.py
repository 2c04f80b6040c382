"""Validates config documents against Switchyard's JSON Schema (draft 2020-12).

Reads {"schema": <path>, "documents": [{"name": ..., "format": "json" | "yaml", "text": ...}]} on stdin and prints
{name: [error, ...]} (an empty list: valid). Exits 1 if the schema itself is not a valid draft 2020-12 schema.
"""
import json
import sys

import jsonschema
import yaml

request = json.load(sys.stdin)
with open(request["schema"], encoding="utf-8") as file:
    schema = json.load(file)
try:
    jsonschema.Draft202012Validator.check_schema(schema)
except jsonschema.SchemaError as error:
    print(f"invalid schema: {error.message}")
    sys.exit(1)
validator = jsonschema.Draft202012Validator(schema)
verdicts = {}
for document in request["documents"]:
    text = document["text"]
    data = yaml.safe_load(text) if document["format"] == "yaml" else json.loads(text)
    verdicts[document["name"]] = [
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}" for error in validator.iter_errors(data)
    ]
print(json.dumps(verdicts))
