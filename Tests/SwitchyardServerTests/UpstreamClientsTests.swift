import AsyncHTTPClient
@testable import SwitchyardServer
import Testing

@Suite("Upstream clients")
struct UpstreamClientsTests {
    @Test func fewRequestsShareOneClientAndEachFurtherBandUsesTheNext() async throws {
        let clients = UpstreamClients(count: 3)
        var slots: [UpstreamClients.Slot] = []
        for _ in 0..<(UpstreamClients.band * 3 + 10) {
            slots.append(clients.acquire())
        }
        let band = UpstreamClients.band
        #expect(slots[0..<band].allSatisfy { $0.client === clients.clients[0] })
        #expect(slots[band..<(2 * band)].allSatisfy { $0.client === clients.clients[1] })
        // Beyond the last band, the last client takes the rest.
        #expect(slots[(2 * band)...].allSatisfy { $0.client === clients.clients[2] })

        // Released slots free their place: a new request goes back to the first client.
        slots.removeAll()
        #expect(clients.acquire().client === clients.clients[0])
        try await clients.shutdown()
    }
}
