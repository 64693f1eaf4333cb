// The client shims are imported as text (`with { type: "text" }`) and embedded in the binary at build.
declare module "*.cjs" {
  const text: string;
  export default text;
}
declare module "*.py" {
  const text: string;
  export default text;
}
