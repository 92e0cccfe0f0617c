/// docs/openapi.yaml, served at `/openapi.yaml`; a test checks the two are equal.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.0.3
"""#
}
