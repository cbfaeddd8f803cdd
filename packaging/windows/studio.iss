; Inno Setup script: Windows installer for Fine-Tuning Studio.
;   iscc /DAppVersion=0.1.0 /DVariant=cuda packaging\windows\studio.iss
; Packs dist\FineTuningStudio\ (PyInstaller, packaging/studio.spec) into
; dist\FineTuningStudio-<version>-windows-x64-<variant>-setup.exe.
;
; Per-user install by default (no admin prompt; artists' workstations are often managed),
; with the option to install for all users. Start-menu entry, optional desktop icon, and
; project files: Fine-Tuning Studio is added to "Open with" for .toml files (projects are
; TOML; see packaging/README.md for why it never takes .toml over by default), and a task,
; off by default, makes it the default app for .toml.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef Variant
  #define Variant "cuda"
#endif
#define AppName "Fine-Tuning Studio"
#define AppExe "FineTuningStudio.exe"
#define ProgId "FineTuningStudio.Project"
#define Root "..\.."

[Setup]
AppId={{6F3A2C71-9B0E-4E55-9D8C-0F75D10A0001}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Fine-Tuning Studio contributors
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#Root}\dist
OutputBaseFilename=FineTuningStudio-{#AppVersion}-windows-x64-{#Variant}-setup
SetupIconFile={#Root}\packaging\icons\studio.ico
UninstallDisplayIcon={app}\{#AppExe}
LicenseFile={#Root}\packaging\windows\LICENSE-NOTICE.txt
Compression=lzma2/max
SolidCompression=yes
DiskSpanning=no
WizardStyle=modern
ChangesAssociations=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "defaulttoml"; Description: "Open all .toml files with {#AppName} by default (not recommended if you edit other TOML files)"; GroupDescription: "Project files:"; Flags: unchecked

[Files]
Source: "{#Root}\dist\FineTuningStudio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Fine-tune models on your own files"
Name: "{group}\{#AppName} self-test"; Filename: "{cmd}"; Parameters: "/k ""{app}\studio.exe"" self-test"; Comment: "Check that this install trains"
Name: "{group}\{#AppName} command line"; Filename: "{cmd}"; Parameters: "/k ""set PATH={app};%PATH%&& studio --help"""; WorkingDir: "{userdocs}"; Comment: "The studio command (studio train, doctor, ...)"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; The project file type (ProgID): icon, name, open command.
Root: HKA; Subkey: "Software\Classes\{#ProgId}"; ValueType: string; ValueName: ""; ValueData: "Fine-Tuning Studio project"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\{#ProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"
Root: HKA; Subkey: "Software\Classes\{#ProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
; Offered in "Open with" for .toml files, without taking them over.
Root: HKA; Subkey: "Software\Classes\.toml\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".toml"; ValueData: ""; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "{#AppName}"
; Only when the user ticks the task: the default app for .toml.
Root: HKA; Subkey: "Software\Classes\.toml"; ValueType: string; ValueName: ""; ValueData: "{#ProgId}"; Tasks: defaulttoml; Flags: uninsdeletevalue

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
