/** The connector's version, as package.json gives it (a unit test keeps the two equal). */
export const VERSION = '0.1.0';
