# Evaluates a Homebrew formula's class-level DSL with stand-ins for Formula and its platform blocks, as
# Homebrew would on the platform named by ARGV (macos|linux, arm|intel), and prints the chosen url and
# sha256 as JSON. Also checks the formula defines install and test. Used by release.test.ts (no brew here).
require "json"

$os, $cpu = ARGV[1].to_sym, ARGV[2].to_sym

class Formula
  class << self
    attr_reader :fields
    def set(key, value) = ((@fields ||= {})[key] = value)
    %i[desc homepage version license url sha256].each { |m| define_method(m) { |v| set(m, v) } }
    def on_macos = ($os == :macos ? yield : nil)
    def on_linux = ($os == :linux ? yield : nil)
    def on_arm = ($cpu == :arm ? yield : nil)
    def on_intel = ($cpu == :intel ? yield : nil)
    def test(&block) = set(:test, block)
  end
end

load ARGV[0]
raise "no install method" unless Kz.method_defined?(:install)
raise "no test block" unless Kz.fields[:test]
puts JSON.generate(Kz.fields.except(:test))
