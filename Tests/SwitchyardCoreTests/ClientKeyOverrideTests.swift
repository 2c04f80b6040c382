import Testing

@testable import SwitchyardCore

@Suite struct ClientKeyOverrideTests {
    @Test func everyClientKeyHeaderIsTakenOffWhateverItsCaseAndOnlyAnOptedInProviderGetsItsKey() {
        var tenant = ProviderConfig(name: "tenant")
        tenant.allowClientKey = true
        tenant.clientKeyHeader = "x-tenant_key"
        let other = ProviderConfig(name: "other")
        let route = ModelRoute(ModelConfig(name: "m", providers: [tenant, other]))
        #expect(route.clientKeyHeaders == ["x-provider-key", "x-tenant_key"])
        let (headers, keys) = ClientKeyOverride.split(
            [HeaderField("X-Tenant_Key", " secret "), HeaderField("X-PROVIDER-KEY", "other-secret"), HeaderField("X-Trace", "1")],
            names: route.clientKeyHeaders
        )
        #expect(headers == [HeaderField("X-Trace", "1")])
        #expect(keys.key(for: tenant) == "secret")
        #expect(keys.key(for: other) == nil, "no opt-in")
        let (untouched, none) = ClientKeyOverride.split([HeaderField("X-Provider-Kex", "x")], names: route.clientKeyHeaders)
        #expect(untouched.count == 1 && none.key(for: tenant) == nil)
    }
}
