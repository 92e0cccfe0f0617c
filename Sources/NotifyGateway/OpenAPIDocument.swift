/// The OpenAPI document of the gateway, served at `/openapi.yaml`.
///
/// Its one source is `openapi.yaml` beside this file (docs/openapi.yaml is a
/// link to it). SwiftPM embeds it in the binary at build time
/// (`.embedInCode` in Package.swift), so the binary needs no resource bundle
/// beside it and what is served is the file, byte for byte; `OpenAPITests`
/// checks both.
enum OpenAPIDocument {
    /// The file's bytes, as built.
    static var bytes: [UInt8] { PackageResources.openapi_yaml }
}
