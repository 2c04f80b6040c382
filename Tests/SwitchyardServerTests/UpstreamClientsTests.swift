import AsyncHTTPClient
@testable import SwitchyardServer
import Testing

@Suite("Upstream clients")
struct UpstreamClientsTests {
    @Test func requestsFillTheFirstClientWithRoomAndTheLastTakesTheRest() async throws {
        let clients = UpstreamClients(count: 3)
        let band = UpstreamClients.band
        var slots: [UpstreamClients.Slot] = []
        for _ in 0..<(band * 3 + 10) {
            slots.append(clients.acquire())
        }
        #expect(slots[0..<band].allSatisfy { $0.member === clients.members[0] })
        #expect(slots[band..<(2 * band)].allSatisfy { $0.member === clients.members[1] })
        #expect(slots[(2 * band)...].allSatisfy { $0.member === clients.members[2] })

        // A request that ends on the second client frees a place there; the first is still full.
        slots.remove(at: band)
        #expect(clients.acquire().member === clients.members[1])
        // With every request over, the first client serves again.
        slots.removeAll()
        #expect(clients.acquire().member === clients.members[0])
        try await clients.shutdown()
    }
}
