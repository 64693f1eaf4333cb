// Types for the share page's files, which src/server/share-page.ts imports as text (embedded at build).
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "*/web/share.js" {
  const text: string;
  export default text;
}
