/** zkts: a ZooKeeper-compatible coordination service. */
export * from "./client/index.js";
export { configFromProperties, parseProperties, readConfigFile, type ServerConfig } from "./server/config.js";
export { type StandaloneServer, startStandalone } from "./server/standalone.js";
export { startTestingServer, type TestingServer } from "./server/testing-server.js";
